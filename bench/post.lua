-- wrk script for the benchmark: POST a small JSON body to an ingress path.
--
--   wrk ... -s bench/post.lua http://127.0.0.1:PORT -- PATH BODY NKEYS
--
-- PATH may contain "{key}"; with NKEYS > 0 every request draws a key "k<0..NKEYS-1>" at random
-- (NKEYS = 0: the path is used as is, and the request is built once per thread).
-- Responses with a status >= 300 are counted, and the first few are kept (status and body
-- prefix) and printed by done() as "bench-non2xx-sample:" lines for the harness.

local path_template = "/"
local body = "1"
local nkeys = 0
local fixed = nil
local threads = {}

non2xx = 0
samples = ""
nsamples = 0

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   path_template = args[1] or "/"
   body = args[2] or "1"
   nkeys = tonumber(args[3] or "0") or 0
   wrk.headers["Content-Type"] = "application/json"
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
   if nkeys <= 0 then
      fixed = wrk.format("POST", path_template, nil, body)
   end
end

function request()
   if fixed then
      return fixed
   end
   local key = "k" .. math.random(0, nkeys - 1)
   local path = string.gsub(path_template, "{key}", key)
   return wrk.format("POST", path, nil, body)
end

function response(status, headers, resp_body)
   if status >= 300 then
      non2xx = non2xx + 1
      if nsamples < 3 then
         nsamples = nsamples + 1
         local text = string.gsub(string.sub(resp_body or "", 1, 300), "[\r\n]", " ")
         samples = samples .. "bench-non2xx-sample: " .. status .. " " .. text .. "\n"
      end
   end
end

function done(summary, latency, requests)
   local total = 0
   local text = ""
   for _, thread in ipairs(threads) do
      total = total + (thread:get("non2xx") or 0)
      text = text .. (thread:get("samples") or "")
   end
   io.write("bench-non2xx: " .. total .. "\n")
   io.write(text)
end
