-- GET /users/{id} with a random id in 1..MAX_ID per request.
-- Usage: wrk ... -s bench/wrk/get_user.lua URL -- [MAX_ID]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local max_id = 100000
local random = math.random
local headers = with_auth({})

function init(args)
  max_id = tonumber(args[1]) or max_id
  math.randomseed(os.time() * 1000 + (tonumber(tid) or 0) * 7919)
  random(); random(); random()
end

function request()
  return wrk.format("GET", "/users/" .. random(1, max_id), headers)
end
