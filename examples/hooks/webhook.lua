--- Site hook: tell a chat or an incident tool what the run does, by posting JSON to a webhook:
--- the start, each node done, the end, a failure. A post that fails is logged and the run goes
--- on: a notification must not stop a migration (a hook that should stop it raises or returns
--- false instead). The request is made by cm.http (libcurl, in the binary: the image has no curl).
---
---   WEBHOOK_URL=https://hooks.example.com/T000/B000 cni-migrate migrate --hooks examples/hooks/webhook.lua
---
--- The body: {"text": "...", "event": "start|node|finish|failure", "command": "migrate|rollback",
--- "node": NAME (node events), "rehearsal": true in a rehearsal (--fake)}; Slack's and Mattermost's
--- incoming webhooks show "text". A rehearsal posts too (its text says so): point it at a test channel.
local http = require "cm.http"
local json = require "cm.json"

local URL = os.getenv("WEBHOOK_URL")
assert(URL and URL:match("^https?://"), "WEBHOOK_URL: expected an http(s) URL")

local function post(ctx, event, text, node)
   if ctx.plan.rehearsal then text = "(rehearsal) " .. text end
   local body = json.encode { text = text, event = event, command = ctx.plan.command, node = node,
      rehearsal = ctx.plan.rehearsal or nil }
   local r, msg = http.request { url = URL, method = "POST", body = body, timeout = 10,
      headers = { ["Content-Type"] = "application/json" } }
   if not r or r.status >= 300 then
      ctx.log.warn("webhook: the post failed", { event = event, error = r and ("HTTP " .. r.status) or msg })
   end
end

return {
   on_start = function(ctx)
      post(ctx, "start", ("cni-migrate %s started"):format(ctx.plan.command))
   end,
   after_step = function(ctx, node, step)
      if node and step == "uncordon" then
         post(ctx, "node", ("cni-migrate %s: node %s done"):format(ctx.plan.command, node.metadata.name),
            node.metadata.name)
      end
   end,
   on_finish = function(ctx, summary)
      post(ctx, "finish", ("cni-migrate %s finished: %d node(s) in %.0f s"):format(ctx.plan.command,
         #summary.nodes, summary.seconds))
   end,
   on_failure = function(ctx, message)
      post(ctx, "failure", ("cni-migrate %s stopped: %s"):format(ctx.plan.command, message))
   end,
}
