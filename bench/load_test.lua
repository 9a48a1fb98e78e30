-- wrk script for bench/load_test.py: alternates the URL's job and a page of
-- the job list, which grows while the test runs.
local n = 0
request = function()
    n = n + 1
    if n % 2 == 0 then
        return wrk.format("GET", "/v1/jobs?limit=20")
    end
    return wrk.format("GET", wrk.path)
end
