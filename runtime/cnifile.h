/*
 * cnifile.h - CNI network configuration files, on a host of the seam (hostops.h): what
 * the container runtime reads, how it picks one, and safe changes to them.
 *
 * Order: the files of the directory ending in .conf, .conflist or .json, sorted by name
 * (byte order), as libcni's ConfFiles gives them. Validation, as libcni loads them:
 * JSON object; cniVersion, when present, a string; a .conflist needs a string "name" and a
 * non-empty "plugins" array of objects each with a string "type"; a .conf or .json is one
 * plugin: it needs "type" (its "name" names the network). The active config is the first
 * valid one, with the invalid ones before it listed as skipped: CRI-O (ocicni) skips them,
 * containerd (go-cni's loadFromConfDir) stops at the first and loads no network at all, so
 * a node script reports them as a problem.
 *
 * Safety: a file over CM_CNI_MAX_SIZE is refused (EFBIG); a symlink is followed only when it
 * resolves inside the directory, else refused (ELOOP); writes never replace a symlink or a
 * directory and are atomic (hostops' file_write); malformed files are "InvalidConfig" with
 * the file and the place: "10-x.conflist: offset 17: expected ',' or '}'".
 */
#ifndef CM_CNIFILE_H
#define CM_CNIFILE_H

#include "hostops.h"

#define CM_CNI_MAX_SIZE (1024 * 1024)

/*
 * Validates a config's text (name: the file name, for its extension and messages).
 * Returns the config as {name, cniVersion?, plugins: [...], conflist: bool} (new, the caller
 * frees it), or NULL with the reason in err.
 */
cJSON *cm_cnifile_parse(const char *name, const char *text, size_t len, char *err, size_t errsize);

/* The config files of dir in load order: [{name, path, type ("file" | "link")}]. */
int cm_cnifile_list(const cm_hostops *ops, cm_hostcall *c, const char *dir, cJSON **out);

/* Reads and validates a config: cm_cnifile_parse's object plus path and text. */
int cm_cnifile_read(const cm_hostops *ops, cm_hostcall *c, const char *path, cJSON **out);

/* The active config of dir (as cm_cnifile_read gives it, plus skipped: [{path, error}]);
 * code "NotFound" when there is none. */
int cm_cnifile_active(const cm_hostops *ops, cm_hostcall *c, const char *dir, cJSON **out);

/* Writes a config atomically; validate: refuse an invalid one ("InvalidConfig"). */
int cm_cnifile_write(const cm_hostops *ops, cm_hostcall *c, const char *path, const char *text, int validate);

/*
 * Moves a config into backup_dir: the copy is written (atomically) first, then the file is
 * removed. The copy is backup_dir/NAME, or NAME.1, NAME.2 ... when an earlier, different
 * backup holds that name. *backup (the caller frees it) is the copy's path. ENOENT when path
 * is not there; a symlink is refused (ELOOP).
 */
int cm_cnifile_remove(const cm_hostops *ops, cm_hostcall *c, const char *path, const char *backup_dir,
                      char **backup);

/* Writes the backup's content back to path (atomically, validated); the backup stays. */
int cm_cnifile_restore(const cm_hostops *ops, cm_hostcall *c, const char *backup, const char *path);

#endif
