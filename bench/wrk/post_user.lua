-- POST /users with a fresh, unique email per request:
-- bench-<TAG>-t<thread>-<counter>@example.com, so no request ever gets 409.
-- Counts 201 responses per thread ("created"), read back by done().
-- Usage: wrk ... -s bench/wrk/post_user.lua URL -- TAG
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local tag = "untagged"
local counter = 0
local headers = with_auth({ ["Content-Type"] = "application/json" })
created = 0
non201 = 0

function init(args)
  tag = args[1] or tag
end

function request()
  counter = counter + 1
  local n = string.format("%d-%d", tid, counter)
  local body = '{"name":"Bench ' .. n .. '","email":"bench-' .. tag .. '-t' .. n .. '@example.com"}'
  return wrk.format("POST", "/users", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then
    created = created + 1
  else
    non201 = non201 + 1
  end
end
