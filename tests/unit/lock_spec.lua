local lock = require("gt.lock")
local sys = require("gt.sys")
local helpers = require("helpers")

describe("gt.lock", function()
  local dir
  before_each(function() dir = helpers.tmpdir("lock") end)

  it("acquires a free lock and records who holds it", function()
    local lk = assert(lock.acquire(dir .. "/a.lock", { what = "gt polecat add" }))
    assert.equal("gt.Lock (" .. dir .. "/a.lock)", tostring(lk))
    local holder = assert(lock.holder(dir .. "/a.lock"))
    assert.equal(sys.pid(), holder.pid)
    assert.equal("gt polecat add", holder.what)
    assert.equal(sys.hostname(), holder.host)
    assert.is_true(math.abs(sys.now_ms() - holder.since_ms) < 60000)
    assert.is_true(lk:release())
    assert.equal("gt.Lock (released)", tostring(lk))
    assert.is_nil(lock.holder(dir .. "/a.lock"))
  end)

  it("reports a busy lock with ELOCKED, naming the holder", function()
    local lk <close> = assert(lock.acquire(dir .. "/b.lock", { what = "gt polecat remove" }))
    local ok, err, code = lock.try(dir .. "/b.lock")
    assert.is_nil(ok)
    assert.equal("ELOCKED", code)
    assert.matches("^lock busy: held by pid " .. sys.pid() .. " %(gt polecat remove%) for %d+s$", err)
  end)

  it("waits up to timeout_ms, then gives up", function()
    local lk <close> = assert(lock.acquire(dir .. "/c.lock"))
    local t0 = sys.clock_ms()
    local ok, _, code = lock.acquire(dir .. "/c.lock", { timeout_ms = 150 })
    local waited = sys.clock_ms() - t0
    assert.is_nil(ok)
    assert.equal("ELOCKED", code)
    assert.is_true(waited >= 150, "waited " .. waited .. " ms")
  end)

  it("is released by <close> at the end of its scope", function()
    do
      local lk <close> = assert(lock.acquire(dir .. "/d.lock"))
      assert.is_nil((lock.try(dir .. "/d.lock")))
    end
    assert.truthy(lock.try(dir .. "/d.lock"))
  end)

  it("is released by the garbage collector", function()
    lock.acquire(dir .. "/e.lock")
    collectgarbage()
    collectgarbage()
    assert.truthy(lock.try(dir .. "/e.lock"))
  end)

  it("is held against other processes and freed when its holder dies", function()
    local path = dir .. "/f.lock"
    local script = dir .. "/hold.lua"
    helpers.write(script, ([[
      local lk = assert(require("gt.lock").acquire(%q, { what = "holder" }))
      io.stdout:write("held\n"); io.stdout:flush()
      io.stdin:read("l")
    ]]):format(path))
    local child = io.popen(gt.executable .. " -l " .. script .. " > " .. dir .. "/out", "w")
    local deadline = sys.clock_ms() + 5000
    while helpers.read(dir .. "/out") ~= "held\n" and sys.clock_ms() < deadline do sys.sleep_ms(5) end
    local ok, err, code = lock.try(path)
    assert.is_nil(ok)
    assert.equal("ELOCKED", code)
    assert.matches("%(holder%)", err)
    child:write("\n")
    child:close()
    assert.truthy(lock.try(path))
  end)

  it("fails with the system's reason when the file cannot be opened", function()
    local ok, err, code = lock.acquire(dir .. "/missing/x.lock")
    assert.is_nil(ok)
    assert.equal("ENOTFOUND", code)
    assert.equal(dir .. "/missing/x.lock: No such file or directory", err)
  end)

  it("raises on misuse", function()
    assert.error_matches(function() lock.acquire({}) end, "bad argument #1 to 'acquire'")
    assert.error_matches(function() lock.acquire(dir .. "/g", { timeout_ms = -1 }) end,
      "timeout_ms must be >= 0")
    assert.error_matches(function() lock.acquire(dir .. "/g", { timeout_ms = "soon" }) end,
      "bad option 'timeout_ms'")
    local lk = assert(lock.acquire(dir .. "/g"))
    lk:release()
    assert.error_matches(function() lk:release() end, "attempt to use a released lock")
    assert.error_matches(function() lk.release(nil) end, "gt.Lock expected, got nil")
  end)
end)
