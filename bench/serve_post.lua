-- serve_post.lua -- wrk script of bench/serve.sh: POSTs JSON bodies to the
-- URL given to wrk, taking them in turn from the file named by the
-- environment variable BENCH_BODIES (one body per line). Each wrk thread
-- starts at a different line. The requests are formatted once, up front, so
-- the client spends its time sending, not building.
local path = os.getenv("BENCH_BODIES")
if not path then
  error("serve_post.lua: set BENCH_BODIES to a file of JSON bodies, one per line")
end

local requests = {}
local next_index = 0

-- setup runs in the main state, once per thread: number the threads.
local threads_seen = 0
function setup(thread)
  thread:set("thread_id", threads_seen)
  threads_seen = threads_seen + 1
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #requests == 0 then
    error("serve_post.lua: no bodies in " .. path)
  end
  next_index = ((thread_id or 0) * 7919) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
