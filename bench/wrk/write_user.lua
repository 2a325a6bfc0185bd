-- DELETE /users/{id} or PATCH /users/{id} over ids 1.. that no two
-- requests share: thread t of T takes t, t+T, t+2T, ... (T and the method
-- are the script's arguments), so every DELETE finds its user and commits
-- (and publishes users.UserDeleted once).
-- Usage: wrk -tT ... -s bench/wrk/write_user.lua URL -- DELETE|PATCH T
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local method = "DELETE"
local stride = 1
local n = 0
local headers = with_auth({ ["Content-Type"] = "application/json" })
-- done() (common.lua) reports these as created and non201: here, the 2xx
-- answers and the others.
created = 0
non201 = 0

function init(args)
  method = args[1] or method
  stride = tonumber(args[2] or "1")
end

function request()
  local id = tid + n * stride
  n = n + 1
  if method == "PATCH" then
    return wrk.format("PATCH", "/users/" .. id, headers, '{"name":"Patched ' .. id .. '"}')
  end
  return wrk.format("DELETE", "/users/" .. id, headers)
end

function response(status, hdrs, body)
  if status == 204 or status == 200 then
    created = created + 1
  else
    non201 = non201 + 1
  end
end
