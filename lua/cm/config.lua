--- cm.config: the migration's settings. Every environment variable of Calico's migration
--- controller (calico-flannel-migration.md §1.2), with its name and default, is also a flag
--- (FLANNEL_VNI is --flannel-vni); both come from the one table below. A flag wins over the
--- variable, the variable over what the cluster shows (config.resolve), and that over the default.
local checks = require "cm.checks"
local flannel = require "cm.flannel"
local k8s = require "cm.k8s"
local lock = require "cm.lock"
local proc = require "cm.proc"
local time = require "cm.time"

local M = {}

--- The settings: name (the environment variable), kind, default, what it is.
--- kind: string | cidr | cidr6 | int | port | bool | dns | subnet_env
M.SETTINGS = {
   { name = "FLANNEL_NETWORK", kind = "cidr", default = "", help = "flannel's IPv4 network (pod CIDR)" },
   { name = "FLANNEL_IPV6_NETWORK", kind = "cidr6", default = "", help = "flannel's IPv6 network" },
   { name = "FLANNEL_DAEMONSET_NAME", kind = "dns", default = "kube-flannel-ds", help = "flannel's DaemonSet" },
   { name = "FLANNEL_DAEMONSET_NAMESPACE", kind = "dns", default = "kube-flannel",
      help = "its namespace" },
   { name = "FLANNEL_MTU", kind = "int", default = 0, min = 0, max = 65535,
      help = "flannel's MTU (subnet.env FLANNEL_MTU)" },
   { name = "FLANNEL_IP_MASQ", kind = "bool", default = true, help = "flanneld --ip-masq" },
   { name = "FLANNEL_SUBNET_LEN", kind = "int", default = 24, min = 1, max = 32,
      help = "each node's podCIDR prefix length" },
   { name = "FLANNEL_IPV6_SUBNET_LEN", kind = "int", default = 64, min = 1, max = 128,
      help = "each node's IPv6 podCIDR prefix length" },
   { name = "FLANNEL_ANNOTATION_PREFIX", kind = "string", default = "flannel.alpha.coreos.com",
      help = "flanneld --kube-annotation-prefix" },
   { name = "FLANNEL_IFACE", kind = "string", default = "",
      help = "flanneld --iface: its interfaces, a,b (the first that exists); not Calico's" },
   { name = "FLANNEL_VNI", kind = "int", default = 1, min = 0, max = 16777215, help = "VXLAN VNI" },
   { name = "FLANNEL_PORT", kind = "port", default = 8472, help = "VXLAN UDP port" },
   { name = "CALICO_DAEMONSET_NAME", kind = "dns", default = "calico-node", help = "Calico's DaemonSet" },
   { name = "CALICO_DAEMONSET_NAMESPACE", kind = "dns", default = "kube-system",
      help = "its namespace (also of calico-config and flannel-migration-config)" },
   { name = "CNI_CONFIG_DIR", kind = "string", default = "/etc/cni/net.d", help = "CNI config directory" },
   { name = "POD_NODE_NAME", kind = "string", default = "", help = "the node this controller runs on" },
   { name = "FLANNEL_SUBNET_ENV", kind = "subnet_env", default = "",
      help = "subnet.env text, ';' for newlines (else read from the cluster)" },
   { name = "DEFAULT_IPPOOL_SIZE", kind = "int", default = 26, min = 20, max = 32,
      help = "smallest IPv4 block size" },
   { name = "DEFAULT_IPPOOL_SIZE_V6", kind = "int", default = 122, min = 116, max = 128,
      help = "smallest IPv6 block size" },
}

--- The flags that are not Calico's settings: flag, kind, default, what it is, and the environment
--- variable that gives it too (env; the flag wins). kind "checks" is a set of check names (opts.skip[check]), "files"
--- a list in the order given. waits: a window or deadline that holds back a migration's nodes, which
--- a rollback refuses rather than ignores (it must not wait for a window).
M.OPTIONS = {
   { flag = "--json", kind = "bool", default = false, help = "preflight: the checks as JSON; status: the model" },
   { flag = "--watch", kind = "bool", default = false, help = "status: redraw on every change until done" },
   { flag = "--skip", kind = "checks", default = {}, help = "a check to pass over (repeatable, or a,b)" },
   { flag = "--max-unavailable", env = "CNI_MIGRATE_MAX_UNAVAILABLE", kind = "unavailable", default = { count = 1 },
      help = "nodes in flight at once: N, or P% of the nodes (rounded down, at least 1)" },
   { flag = "--max-unavailable-per-zone", env = "CNI_MIGRATE_MAX_UNAVAILABLE_PER_ZONE", kind = "count", default = 0,
      help = "at most N of them in one topology.kubernetes.io/zone (0: no limit)" },
   { flag = "--window-days", waits = true, env = "CNI_MIGRATE_WINDOW_DAYS", kind = "days", default = false,
      help = "days a node may start on: mon-fri, sat,sun (default: every day)" },
   { flag = "--window-start", waits = true, env = "CNI_MIGRATE_WINDOW_START", kind = "clock", default = false,
      help = "HH:MM from which a node may start (with --window-end)" },
   { flag = "--window-end", waits = true, env = "CNI_MIGRATE_WINDOW_END", kind = "clock", default = false,
      help = "HH:MM from which no node starts (before the start: the window crosses midnight)" },
   { flag = "--window-time-zone", waits = true, env = "CNI_MIGRATE_WINDOW_TIME_ZONE", kind = "zone", default = "UTC",
      help = "the window's time zone, an IANA name (Europe/Berlin)" },
   { flag = "--deadline", waits = true, env = "CNI_MIGRATE_DEADLINE", kind = "deadline", default = false,
      help = "no node starts after it: an RFC 3339 time, or a duration from the start" },
   { flag = "--node-delay", env = "CNI_MIGRATE_NODE_DELAY", kind = "duration", default = 0,
      help = "wait after each node before its slot takes the next" },
   { flag = "--calico-ready-timeout", env = "CNI_MIGRATE_CALICO_READY_TIMEOUT", kind = "duration", default = 300,
      help = "longest wait for calico-node Ready on a node" },
   { flag = "--drain-timeout", env = "CNI_MIGRATE_DRAIN_TIMEOUT", kind = "duration", default = 0,
      help = "longest drain (0: no limit)" },
   { flag = "--drain-timeout-policy", env = "CNI_MIGRATE_DRAIN_TIMEOUT_POLICY", kind = "choice", default = "stop",
      choices = { "stop", "hold" },
      help = "when a drain times out: stop the run, or hold the node (uncordoned, on flannel) and go on" },
   { flag = "--pod-gone-timeout", env = "CNI_MIGRATE_POD_GONE_TIMEOUT", kind = "duration", default = 300,
      help = "longest wait for flannel's pod (rollback: calico-node's) to leave a node" },
   { flag = "--node-step-timeout", env = "CNI_MIGRATE_NODE_STEP_TIMEOUT", kind = "duration", default = 300,
      help = "longest node script (flannel-cleanup, calico-check)" },
   { flag = "--flannel-ready-timeout", env = "CNI_MIGRATE_FLANNEL_READY_TIMEOUT", kind = "duration", default = 300,
      help = "rollback: longest wait for flannel's pod Ready on a node" },
   { flag = "--remove-calico-state", kind = "bool", default = false,
      help = "rollback: also remove what the migration made in Calico's objects" },
   { flag = "--report", kind = "string", default = "",
      help = "migrate, rehearsal (--fake): write the rehearsal's report to this HTML file" },
   { flag = "--seeds", kind = "int", default = 1, min = 1, max = 100,
      help = "with --report: rehearse on this many seeds (from --seed on) for the duration's spread" },
   { flag = "--no-invariants", kind = "bool", default = false,
      help = "rehearsal (--fake): do not check the safety invariants (cm.invariants) after every change" },
   { flag = "--hooks", kind = "files", env = "CNI_MIGRATE_HOOKS", default = {},
      help = "a site hooks file (repeatable, or a,b; run in that order)" },
   { flag = "--metrics-port", kind = "int", min = 0, max = 65535, env = "CNI_MIGRATE_METRICS_PORT", default = -1,
      help = "serve Prometheus metrics on this port's /metrics (0: any free port; default: off)" },
   { flag = "--reason", kind = "string", default = "", help = "pause: why (status shows it)" },
   { flag = "--help", kind = "bool", default = false, help = "this list" },
}

--- The flag of a setting: FLANNEL_VNI -> --flannel-vni.
---@param name string
---@return string
function M.flag_of(name)
   return "--" .. name:lower():gsub("_", "-")
end

--- Parses a duration: 90, 90s, 5m, 1h30m; seconds or nil.
---@param s string
---@return number|nil
function M.duration(s)
   if s:match("^%d+%.?%d*$") then return tonumber(s) end
   local total, rest = 0, s
   local unit = { h = 3600, m = 60, s = 1 }
   if rest == "" then return nil end
   while rest ~= "" do
      local n, u, tail = rest:match("^(%d+%.?%d*)([hms])(.*)$")
      if not n then return nil end
      total, rest = total + tonumber(n) * unit[u], tail
   end
   return total
end

local DAYS = { sun = 1, mon = 2, tue = 3, wed = 4, thu = 5, fri = 6, sat = 7 } -- os.date's wday
for name, d in pairs { sunday = 1, monday = 2, tuesday = 3, wednesday = 4, thursday = 5, friday = 6, saturday = 7 } do
   DAYS[name] = d
end

--- The operator's kinds (schedule, window, deadline): text -> value, or nil and why.
M.KINDS = {
   unavailable = function(text)
      local n, pct = text:match("^(%d+)(%%?)$")
      n = math.tointeger(tonumber(n))
      if n and pct == "%" and n >= 1 and n <= 100 then return { percent = n } end
      if n and pct == "" and n >= 1 then return { count = n } end
      return nil, "expected a number of nodes (1 or more) or a percentage (1% to 100%)"
   end,
   count = function(text)
      local n = math.tointeger(tonumber(text:match("^%d+$") and text or ""))
      if n then return n end
      return nil, "expected an integer, 0 or more"
   end,
   days = function(text)
      local set = {}
      for part in (text:lower() .. ","):gmatch("([^,]*),") do
         local a, b = part:match("^%s*(%a+)%s*%-%s*(%a+)%s*$")
         if not a then
            a = part:match("^%s*(%a+)%s*$")
            b = a
         end
         a, b = DAYS[a], DAYS[b]
         if not (a and b) then return nil, "expected days such as mon-fri or sat,sun" end
         set[a] = true
         while a ~= b do
            a = a % 7 + 1
            set[a] = true
         end
      end
      return set
   end,
   clock = function(text)
      local h, m = text:match("^(%d%d?):(%d%d)$")
      h, m = tonumber(h), tonumber(m)
      if h and h < 24 and m < 60 then return h * 60 + m end
      return nil, "expected a time of day HH:MM (00:00 to 23:59)"
   end,
   zone = function(text)
      if time.civil(0, text) then return text end
      return nil, "expected a time zone the system knows (UTC, Europe/Berlin, ...)"
   end,
   choice = function(text, s)
      for _, c in ipairs(s.choices) do
         if c == text then return text end
      end
      return nil, "expected " .. table.concat(s.choices, " or ")
   end,
   deadline = function(text)
      local d = M.duration(text)
      if d then return { after = d } end
      local y, rest = text:match("^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.?%d*)(.*)$")
      local sign, oh, om = (rest or ""):match("^([+-])(%d%d):(%d%d)$")
      local at = y and (rest == "Z" or sign) and lock.epoch(y .. "Z")
      if at then
         return { at = at - (sign and (sign == "+" and 1 or -1) * (tonumber(oh) * 3600 + tonumber(om) * 60) or 0) }
      end
      return nil, "expected an RFC 3339 time (2026-12-08T06:00:00Z) or a duration from the start (4h)"
   end,
}

local function is_cidr(s, v6)
   local addr, len = s:match("^([%x:.]+)/(%d+)$")
   if not addr then return false end
   len = tonumber(len)
   if v6 then return addr:find(":") ~= nil and len <= 128 end
   local a, b, c, d = addr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
   for _, o in ipairs { a, b, c, d } do
      if tonumber(o) > 255 then return false end
   end
   return a ~= nil and len <= 32
end

--- Converts text to a setting's kind: value, or nil and why.
---@param s table a SETTINGS or OPTIONS entry
---@param text string
---@return any|nil value
---@return string|nil why
function M.convert(s, text)
   local k = s.kind
   if k == "string" then return text end
   if k == "subnet_env" then
      local ok, why = flannel.check_subnet_env(text)
      if ok then return text end
      return nil, why
   end
   if k == "checks" then
      for item in text:gmatch("[^,]+") do
         if not checks.NAMES[item] then return nil, ("no check is named %s"):format(item) end
      end
      return text
   end
   if k == "dns" then
      if #text <= 253 and text:match("^[a-z0-9][-a-z0-9.]*$") and text:match("[a-z0-9]$") then return text end
      return nil, "expected a lower-case DNS name"
   end
   if k == "cidr" or k == "cidr6" then
      if text == "" or is_cidr(text, k == "cidr6") then return text end
      return nil, k == "cidr" and "expected an IPv4 CIDR such as 10.244.0.0/16" or "expected an IPv6 CIDR"
   end
   if k == "bool" then
      -- Go's strconv.ParseBool, as Calico reads these
      local t = { ["1"] = true, t = true, T = true, TRUE = true, ["true"] = true, True = true,
         ["0"] = false, f = false, F = false, FALSE = false, ["false"] = false, False = false }
      if t[text] ~= nil then return t[text] end
      return nil, "expected true or false"
   end
   if k == "duration" then
      local d = M.duration(text)
      if d then return d end
      return nil, "expected a duration (90, 90s, 5m, 1h30m)"
   end
   if M.KINDS[k] then return M.KINDS[k](text, s) end
   local n = math.tointeger(tonumber(text:match("^%-?%d+$") and text or ""))
   if k == "port" then
      if n and n >= 1 and n <= 65535 then return n end
      return nil, "expected a UDP port from 1 to 65535"
   end
   if not n then return nil, "expected an integer" end
   if (s.min and n < s.min) or (s.max and n > s.max) then
      return nil, ("expected an integer from %d to %d"):format(s.min, s.max)
   end
   return n
end

local function by_flag()
   local t = {}
   for _, s in ipairs(M.SETTINGS) do t[M.flag_of(s.name)] = s end
   for _, o in ipairs(M.OPTIONS) do t[o.flag] = o end
   return t
end

--- Reads the settings from the command line and the environment.
---@param args string[] the procedure's arguments
---@param getenv fun(name: string): string|nil (os.getenv)
---@return table|nil cfg {values = {NAME = v}, sources = {NAME = "flag --x"|"env X"|"default"},
---   explicit = {NAME = true}, opts = {json =, skip = {check = true}, ...}}
---@return string|nil message names the flag or variable
---@return string|nil code "Usage"
function M.parse(args, getenv)
   local cfg = { values = {}, sources = {}, explicit = {}, opts = {} }
   for _, s in ipairs(M.SETTINGS) do
      local text = getenv(s.name)
      if text == "" and s.kind ~= "string" and s.kind ~= "subnet_env" then text = nil end -- set but empty: as if unset
      if text ~= nil then
         local v, why = M.convert(s, text)
         if v == nil then
            return nil, ("environment variable %s=%q: %s"):format(s.name, text, why), "Usage"
         end
         cfg.values[s.name], cfg.sources[s.name], cfg.explicit[s.name] = v, "env " .. s.name, true
      else
         cfg.values[s.name], cfg.sources[s.name] = s.default, "default"
      end
   end
   local from_env = {}
   cfg.opt_sources = {} -- key -> "flag --x" | "environment variable X", for messages
   for _, o in ipairs(M.OPTIONS) do
      local key = o.flag:sub(3):gsub("-", "_")
      cfg.opts[key] = (o.kind == "checks" or o.kind == "files") and {} or o.default
      local text = o.env and getenv(o.env)
      if text and text ~= "" then
         if o.kind ~= "files" then
            local v, why = M.convert(o, text)
            if v == nil then return nil, ("environment variable %s=%q: %s"):format(o.env, text, why), "Usage" end
            cfg.opts[key] = v
         else
            for item in text:gmatch("[^,]+") do table.insert(cfg.opts[key], item) end
         end
         from_env[key], cfg.opt_sources[key] = true, "environment variable " .. o.env
      end
   end
   local flags, i = by_flag(), 1
   while i <= #args do
      local a = args[i]
      local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      if a == "-h" then name = "--help" end
      local s = flags[name]
      if not s then
         if a:sub(1, 1) == "-" then return nil, ("unknown flag %s"):format(a), "Usage" end
         return nil, ("unexpected argument %q"):format(a), "Usage"
      end
      local text = inline
      if s.kind == "bool" and not s.name and text == nil then
         text = "true"
      elseif text == nil then
         i = i + 1
         text = args[i]
         if text == nil then return nil, ("flag %s needs a value"):format(name), "Usage" end
      end
      local v, why = M.convert(s.kind == "files" and { kind = "string" } or s, text)
      if v == nil then return nil, ("flag %s %q: %s"):format(name, text, why), "Usage" end
      if s.name then
         cfg.values[s.name], cfg.sources[s.name], cfg.explicit[s.name] = v, "flag " .. name, true
      elseif s.kind == "checks" then
         local key = s.flag:sub(3):gsub("-", "_")
         for item in v:gmatch("[^,]+") do cfg.opts[key][item] = true end
      elseif s.kind == "files" then
         local key = s.flag:sub(3):gsub("-", "_")
         if from_env[key] then cfg.opts[key], from_env[key] = {}, nil end -- the flag wins over the variable
         for item in v:gmatch("[^,]+") do table.insert(cfg.opts[key], item) end
      else
         local key = s.flag:sub(3):gsub("-", "_")
         cfg.opts[key], cfg.opt_sources[key] = v, "flag " .. name
      end
      i = i + 1
   end
   local o, src = cfg.opts, cfg.opt_sources
   if (o.window_start == false) ~= (o.window_end == false) then
      local given = o.window_start and "window_start" or "window_end"
      return nil, ("%s: a window needs both --window-start and --window-end"):format(src[given]), "Usage"
   end
   if o.window_start and o.window_start == o.window_end then
      return nil, ("%s and %s: the same time, an empty window"):format(src.window_start, src.window_end), "Usage"
   end
   return cfg
end

--- Puts what the cluster shows under every setting not given explicitly, and lists where an
--- explicit value contradicts it.
---@param cfg table config.parse's result
---@param observed table {NAME = {value =, source = "..."}}
---@return table[] contradictions {name, value, source, observed, observed_source}
function M.resolve(cfg, observed)
   local contradictions = {}
   for _, s in ipairs(M.SETTINGS) do
      local o = observed[s.name]
      if o and o.value ~= nil then
         if not cfg.explicit[s.name] then
            cfg.values[s.name], cfg.sources[s.name] = o.value, o.source
         elseif o.value ~= cfg.values[s.name] and o.fact then
            contradictions[#contradictions + 1] = { name = s.name, value = cfg.values[s.name],
               source = cfg.sources[s.name], observed = o.value, observed_source = o.source }
         end
      end
   end
   return contradictions
end

--- The effective settings as lines "NAME = value (source)".
---@param cfg table
---@return string[]
function M.describe(cfg)
   local lines = {}
   for _, s in ipairs(M.SETTINGS) do
      local v = cfg.values[s.name]
      if s.name == "FLANNEL_SUBNET_ENV" and v ~= "" then v = "(" .. #v .. " bytes)" end
      lines[#lines + 1] = ("  %-28s %-26s %s"):format(s.name, tostring(v == "" and "-" or v), cfg.sources[s.name])
   end
   return lines
end

--- The usage text of a procedure: its flags and settings, from the same tables.
---@param command string
---@return string
function M.usage(command)
   local out = { ("usage: cni-migrate %s [FLAGS]"):format(command), "", "Settings (flag, or the environment "
      .. "variable of the same name; a flag wins over the variable, both over what the cluster shows):" }
   for _, s in ipairs(M.SETTINGS) do
      out[#out + 1] = ("  %-32s %s (default %s)"):format(M.flag_of(s.name), s.help,
         s.default == "" and "none" or tostring(s.default))
   end
   out[#out + 1] = ""
   out[#out + 1] = "Options:"
   for _, o in ipairs(M.OPTIONS) do
      out[#out + 1] = ("  %-32s %s%s"):format(o.flag, o.help, o.env and (" (env " .. o.env .. ")") or "")
   end
   return table.concat(out, "\n") .. "\n"
end

--- How every procedure starts: its flags and variables parsed (a malformed one is a usage error
--- naming it), --help printed, and a client at kube-controller-manager's rate (20/s, burst 40, not
--- client-go's 5/10); no kubeconfig, or a malformed one, is a usage error before anything is sent.
--- In a rehearsal (--fake) the safety invariants are checked from here on (cm.invariants), with
--- the run's --max-unavailable as the most nodes it may cordon, unless --no-invariants.
---@param command string the procedure's name, for messages and --help
---@param args string[] the procedure's arguments
---@param getenv fun(name: string): string|nil
---@return table|nil cfg nil when --help was printed (the procedure has nothing more to do)
---@return userdata|nil c the client
function M.start(command, args, getenv)
   local cfg, err = M.parse(args, getenv)
   if not cfg then proc.usage("%s: %s", command, err) end
   for _, o in ipairs(command == "rollback" and M.OPTIONS or {}) do
      local given = o.waits and cfg.opt_sources[o.flag:sub(3):gsub("-", "_")]
      if given then
         proc.usage("rollback: %s: a rollback does not wait for a window or a deadline (they pace migrate only)", given)
      end
   end
   if cfg.opts.help then
      io.write(M.usage(command))
      return nil
   end
   -- Lua's generational collector: a run's garbage is mostly young (a list's pages, watch events,
   -- requests' bodies) and goes in minor collections, before the heap grows by half again; at 500
   -- nodes the controller's peak RSS was 21.2 MB against 22.9 MB incremental (README, "Tests")
   collectgarbage("generational")
   local c, cerr = k8s.client { qps = 20, burst = 40 }
   if not c then proc.usage("%s: %s", command, cerr) end
   if not cfg.opts.no_invariants and (c:info().source or ""):match("^fake") then -- a rehearsal
      require("cm.invariants").watch { max_unavailable = cfg.opts.max_unavailable }
   end
   return cfg, c
end

return M
