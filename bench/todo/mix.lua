-- The todo API's read/write mix for wrk (bench/todo/todo.py): 90 % reads, 10 % writes.
--   80 %  GET   /todos/:id                 a seeded todo
--   10 %  GET   /todos?limit=10&offset=N   a page of the list
--    5 %  POST  /todos                     a new todo
--    5 %  PATCH /todos/:id                 a seeded todo marked done
-- TODO_SEEDED (environment) is how many todos the driver created first (ids 1...N).
local seeded = tonumber(os.getenv("TODO_SEEDED") or "1000")
local json = { ["Content-Type"] = "application/json" }

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

function request()
  local pick = math.random(100)
  if pick <= 80 then
    return wrk.format("GET", "/todos/" .. math.random(seeded))
  elseif pick <= 90 then
    return wrk.format("GET", "/todos?limit=10&offset=" .. math.random(0, seeded - 10))
  elseif pick <= 95 then
    return wrk.format("POST", "/todos", json, '{"title":"written by the benchmark"}')
  else
    return wrk.format("PATCH", "/todos/" .. math.random(seeded), json, '{"done":true}')
  end
end
