-- wrk script for bench/run.sh: POSTs a realistic non-streaming chat request, rotating the api-key over the
-- benchmark's three clients (the mock and nginx ignore it; the proxy identifies the client by it).
local body = '{"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},'
  .. '{"role":"user","content":"Write one friendly sentence about reverse proxies in front of Azure OpenAI."}],'
  .. '"max_tokens":200,"temperature":0.7,"top_p":0.95,"frequency_penalty":0,"presence_penalty":0,"stream":false}'
local keys = { "bench-key-team-a-0123456789", "bench-key-team-b-0123456789", "bench-key-team-c-0123456789" }
local requests = {}
local n = 0

init = function(args)
  for i, key in ipairs(keys) do
    requests[i] = wrk.format("POST", nil, { ["api-key"] = key, ["Content-Type"] = "application/json" }, body)
  end
end

request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
