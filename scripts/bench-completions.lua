-- wrk script for scripts/bench-completions.sh: each thread POSTs its share
-- of the links in $PATHS (one per line), each link once, then stops; any
-- answer but 200 is counted and printed at the end.
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  step = tonumber(os.getenv("THREADS"))
  next_path, answered, refused = id + 1, 0, 0
  share = math.floor((#paths - id - 1) / step) + 1
end

function request()
  local p = paths[next_path] or paths[id + 1]
  next_path = next_path + step
  return wrk.format("POST", p,
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, "note=")
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then refused = refused + 1 end
  if answered >= share then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local refused_all = 0
  for _, t in ipairs(threads) do refused_all = refused_all + t:get("refused") end
  io.write(string.format("answers other than 200: %d\n", refused_all))
end
