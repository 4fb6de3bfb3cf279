--- cm.sha3: SHA3-256 (FIPS 202) in Lua 5.4 integers, for Calico's BlockAffinity label
--- projectcalico.org/hostname-hash (base32 without padding of SHA3-256 of the node name).
local M = {}

local RC = { -- hexadecimal integer literals wrap around in Lua 5.4
   0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
   0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
   0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
   0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
   0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
   0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
}
-- rotation offsets r[x + 5y] and the pi permutation, as in the specification
local ROT = { 0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14 }

local function rotl(x, n)
   if n == 0 then return x end
   return (x << n) | (x >> (64 - n))
end

local function keccak_f(A)
   local C, D, B = {}, {}, {}
   for round = 1, 24 do
      for x = 0, 4 do C[x] = A[x] ~ A[x + 5] ~ A[x + 10] ~ A[x + 15] ~ A[x + 20] end
      for x = 0, 4 do D[x] = C[(x + 4) % 5] ~ rotl(C[(x + 1) % 5], 1) end
      for i = 0, 24 do A[i] = A[i] ~ D[i % 5] end
      for x = 0, 4 do
         for y = 0, 4 do
            B[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(A[x + 5 * y], ROT[x + 5 * y + 1])
         end
      end
      for y = 0, 4 do
         for x = 0, 4 do
            A[x + 5 * y] = B[x + 5 * y] ~ ((~B[(x + 1) % 5 + 5 * y]) & B[(x + 2) % 5 + 5 * y])
         end
      end
      A[0] = A[0] ~ RC[round]
   end
end

--- SHA3-256 of a string, as 32 raw bytes.
---@param msg string
---@return string
function M.sha3_256(msg)
   local rate = 136
   local A = {}
   for i = 0, 24 do A[i] = 0 end
   local padded = msg .. "\6" .. ("\0"):rep((rate - (#msg + 1) % rate) % rate)
   padded = padded:sub(1, -2) .. string.char(padded:byte(-1) | 0x80)
   for off = 1, #padded, rate do
      for i = 0, rate // 8 - 1 do
         A[i] = A[i] ~ string.unpack("<i8", padded, off + 8 * i)
      end
      keccak_f(A)
   end
   return string.pack("<i8<i8<i8<i8", A[0], A[1], A[2], A[3])
end

--- RFC 4648 base32, upper case, without padding.
---@param bytes string
---@return string
function M.base32(bytes)
   local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
   local out, acc, nbits = {}, 0, 0
   for i = 1, #bytes do
      acc = (acc << 8) | bytes:byte(i)
      nbits = nbits + 8
      while nbits >= 5 do
         local v = (acc >> (nbits - 5)) & 31
         out[#out + 1] = alphabet:sub(v + 1, v + 1)
         nbits = nbits - 5
      end
   end
   if nbits > 0 then
      local v = (acc << (5 - nbits)) & 31
      out[#out + 1] = alphabet:sub(v + 1, v + 1)
   end
   return table.concat(out)
end

return M
