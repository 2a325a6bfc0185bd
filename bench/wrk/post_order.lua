-- POST /orders for a random existing user (id in 1..MAX_USER_ID) with 1 to 3
-- items (sku "SKU-<n>", quantity 1..5, unit_price_cents 100..9999).
-- Counts 201 responses per thread ("created") and any other status
-- ("non201"), read back by done() in common.lua.
-- Usage: wrk ... -s bench/wrk/post_order.lua URL -- [MAX_USER_ID]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local max_user = 1000
local random = math.random
local headers = { ["Content-Type"] = "application/json" }
created = 0
non201 = 0

function init(args)
  max_user = tonumber(args[1]) or max_user
  math.randomseed(os.time() * 1000 + (tonumber(tid) or 0) * 7919)
  random(); random(); random()
end

function request()
  local items = {}
  for i = 1, random(1, 3) do
    items[i] = string.format('{"sku":"SKU-%d","quantity":%d,"unit_price_cents":%d}',
                             random(1, 500), random(1, 5), random(100, 9999))
  end
  local body = '{"user_id":' .. random(1, max_user) .. ',"items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/orders", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then
    created = created + 1
  else
    non201 = non201 + 1
  end
end
