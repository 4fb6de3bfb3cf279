--- cm.ip: IPv4 and IPv6 addresses and CIDRs, as text in and text out.
--- IPv4 arithmetic (network, nth host, containment) is what flannel's and Calico's per-node
--- subnets need; IPv6 is parsed and validated.
local M = {}

---@param s string
---@return integer|nil v the address as a 32-bit integer
local function _v4(s)
   local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
   if not a then return nil end
   local v = 0
   for _, o in ipairs { a, b, c, d } do
      local n = tonumber(o)
      if n > 255 or (#o > 1 and o:sub(1, 1) == "0") then return nil end
      v = v * 256 + n
   end
   return v
end

---@param s string
---@return boolean
local function _is_v6(s)
   local head, tail = s:match("^(.-)::(.*)$")
   local compressed = head ~= nil
   if not compressed then head, tail = s, "" end
   if tail:find("::", 1, true) then return false end
   local n = 0
   -- counts the 16-bit groups of one side of "::"; an IPv4 tail counts as two
   local function count(part, v4_ok)
      if part == "" then return true end
      local groups = {}
      for g in (part .. ":"):gmatch("([^:]*):") do groups[#groups + 1] = g end
      for i, g in ipairs(groups) do
         if v4_ok and i == #groups and g:find(".", 1, true) then
            if not _v4(g) then return false end
            n = n + 2
         elseif g:match("^%x%x?%x?%x?$") then
            n = n + 1
         else
            return false
         end
      end
      return true
   end
   if not count(head, not compressed) or not count(tail, true) then return false end
   return compressed and n <= 7 or n == 8
end

--- Formats a 32-bit integer as a dotted IPv4 address.
---@param v integer
---@return string
function M.v4_string(v)
   return ("%d.%d.%d.%d"):format(v >> 24 & 255, v >> 16 & 255, v >> 8 & 255, v & 255)
end

--- Parses an address: 4 or 6 and, for IPv4, its integer value; nil when s is not an address.
---@param s string
---@return integer|nil family 4 or 6
---@return integer|nil value IPv4 only
function M.parse(s)
   if type(s) ~= "string" then return nil end
   local v = _v4(s)
   if v then return 4, v end
   if _is_v6(s) then return 6 end
   return nil
end

--- Parses a CIDR such as "10.244.1.0/24".
---@param s string
---@return table|nil cidr {family, address, prefix, value (IPv4), network (IPv4 text)}
function M.cidr(s)
   if type(s) ~= "string" then return nil end
   local addr, len = s:match("^([^/]+)/(%d+)$")
   if not addr then return nil end
   local family, v = M.parse(addr)
   local prefix = tonumber(len)
   if not family or prefix > (family == 4 and 32 or 128) or (#len > 1 and len:sub(1, 1) == "0") then
      return nil
   end
   local c = { family = family, address = addr, prefix = prefix }
   if family == 4 then
      local mask = prefix == 0 and 0 or (0xffffffff << (32 - prefix)) & 0xffffffff
      c.value = v & mask
      c.network = M.v4_string(c.value)
   end
   return c
end

--- Whether s is a CIDR of either family.
---@param s any
---@return boolean
function M.is_cidr(s)
   return M.cidr(s) ~= nil
end

--- The n-th address of an IPv4 CIDR's network (0 is the network address itself).
---@param s string an IPv4 CIDR
---@param n integer
---@return string|nil
function M.host(s, n)
   local c = M.cidr(s)
   if not c or c.family ~= 4 then return nil end
   return M.v4_string(c.value + n)
end

--- Whether IPv4 CIDR outer contains address or CIDR inner.
---@param outer string
---@param inner string
---@return boolean
function M.contains(outer, inner)
   local o = M.cidr(outer)
   local i = M.cidr(inner) or (M.parse(inner) == 4 and M.cidr(inner .. "/32"))
   if not o or not i or o.family ~= 4 or i.family ~= 4 or i.prefix < o.prefix then return false end
   local mask = o.prefix == 0 and 0 or (0xffffffff << (32 - o.prefix)) & 0xffffffff
   return (i.value & mask) == o.value
end

return M
