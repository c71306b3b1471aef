local sys = require("gt.sys")
local proc = require("gt.proc")
local helpers = require("helpers")

describe("gt.sys", function()
  it("now_ms is Unix time in integer milliseconds", function()
    local before = os.time()
    local ms = sys.now_ms()
    local after = os.time()
    assert.equal("integer", math.type(ms))
    assert.is_true(ms >= (before - 1) * 1000 and ms <= (after + 1) * 1000, tostring(ms))
  end)

  it("clock_ms is monotonic, with fractions", function()
    local last = sys.clock_ms()
    assert.equal("float", math.type(last))
    local distinct = 0
    for _ = 1, 100000 do
      local now = sys.clock_ms()
      assert(now >= last, "clock went back")
      if now ~= last then distinct = distinct + 1 end
      last = now
    end
    assert.is_true(distinct > 0)
  end)

  it("sleep_ms sleeps at least that long", function()
    local t0 = sys.clock_ms()
    sys.sleep_ms(50)
    local slept = sys.clock_ms() - t0
    assert.is_true(slept >= 50 and slept < 5000, tostring(slept))
    t0 = sys.clock_ms()
    sys.sleep_ms(0)
    assert.is_true(sys.clock_ms() - t0 < 1000)
    assert.error_matches(function() sys.sleep_ms(-1) end, "bad argument #1 to 'sleep_ms' %(must be >= 0%)")
    assert.error_matches(function() sys.sleep_ms(1.5) end, "bad argument #1 to 'sleep_ms'")
  end)

  it("pid is this process's id", function()
    local f = assert(io.open("/proc/self/stat"))
    local stat = f:read("a")
    f:close()
    assert.equal(tonumber(stat:match("^(%d+)")), sys.pid())
  end)

  it("pid_alive sees live processes and not exited ones", function()
    assert.is_true(sys.pid_alive(sys.pid()))
    assert.is_true(sys.pid_alive(1)) -- EPERM counts as alive
    local r = assert(proc.run({ argv = { "true" } }))
    assert.is_false(sys.pid_alive(r.pid)) -- exited and reaped
    assert.error_matches(function() sys.pid_alive(0) end, "bad argument #1 to 'pid_alive' %(not a process id%)")
    assert.error_matches(function() sys.pid_alive(-1) end, "not a process id")
    -- pid_t is 32 bits: a larger number is refused, not truncated into -1 (every process).
    assert.error_matches(function() sys.pid_alive(4294967295) end, "not a process id")
    assert.error_matches(function() sys.kill(4294967295, 0) end, "not a process id")
  end)

  it("hostname is the kernel's host name", function()
    local f = assert(io.open("/proc/sys/kernel/hostname"))
    local host = f:read("l")
    f:close()
    assert.equal(host, sys.hostname())
  end)

  -- The specs' own streams may be a terminal or not; a child gt is given pipes, then a
  -- pseudo-terminal.
  local probe = [[
    local sys = require("gt.sys")
    for _, s in ipairs({ "stdin", "stdout", "stderr" }) do
      io.write(s, "=", tostring(sys.isatty(s)), ",", tostring(sys.term_width(s)), " ")
    end
  ]]

  it("isatty is false and term_width nil on pipes", function()
    local dir = helpers.tmpdir("sys")
    helpers.write(dir .. "/probe.lua", probe)
    local r = helpers.run({ gt.executable, "-l", dir .. "/probe.lua" }, { stdin = "input" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("stdin=false,nil stdout=false,nil stderr=false,nil ", r.stdout)
  end)

  it("isatty is true and term_width the columns on a terminal", function()
    local script = assert(proc.run({ argv = { "sh", "-c", "command -v script" } }))
    if not script.ok then
      pending("needs script(1) for a pseudo-terminal")
      return
    end
    local dir = helpers.tmpdir("sys")
    helpers.write(dir .. "/probe.lua", probe)
    local r = helpers.run({ "script", "-qec", "stty cols 123 && " .. gt.executable .. " -l " ..
      dir .. "/probe.lua", "/dev/null" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("stdin=true,123 stdout=true,123 stderr=true,123 ", r.stdout)
  end)

  it("proc_start is field 22 of /proc/<pid>/stat, nil once the process has exited", function()
    local stat = helpers.read("/proc/" .. sys.pid() .. "/stat"):match("%) (.*)$")
    local fields = {}
    for f in stat:gmatch("%S+") do fields[#fields + 1] = f end
    assert.equal(fields[22 - 2], sys.proc_start(sys.pid()))
    local r = assert(proc.run({ argv = { "true" } }))
    assert.is_nil(sys.proc_start(r.pid)) -- exited and reaped
    -- A zombie has exited too: a supervisor of proc.start that ended stays gt's child, unreaped.
    local pid = helpers.in_child([[
      local proc, sys = require("gt.proc"), require("gt.sys")
      local pid = assert(proc.start({ argv = { "true" }, log = "/dev/null" }))
      local deadline = sys.clock_ms() + 5000
      while sys.proc_start(pid) and sys.clock_ms() < deadline do sys.sleep_ms(5) end
      local f = io.open("/proc/" .. pid .. "/stat")
      local state = f and f:read("a"):match("%) (%a)")
      return sys.proc_start(pid) == nil, state
    ]])
    assert.is_true(pid)
    assert.error_matches(function() sys.proc_start(0) end, "not a process id")
    assert.error_matches(function() sys.proc_start(-5) end, "not a process id")
  end)

  it("kill signals a process group given as -pgid, and refuses -1 and 0", function()
    local r = assert(proc.run({ argv = { "sh", "-c", "sleep 5 & kill -0 -$$ && echo group; wait" },
      timeout_ms = 200 }))
    assert.equal("group\n", r.stdout)
    -- A group of its own (proc.run's child leads one): signalled whole, the sleeper too.
    local gone = helpers.in_child([[
      local proc, sys = require("gt.proc"), require("gt.sys")
      local pid = assert(proc.start({ argv = { "sh", "-c", "sleep 5 & sleep 5" }, log = "/dev/null" }))
      assert(sys.kill(-pid, 9))
      local deadline = sys.clock_ms() + 5000
      while sys.clock_ms() < deadline do
        local left = 0
        for _, name in ipairs(assert(require("gt.fs").dir("/proc"))) do
          local f = name:match("^%d+$") and io.open("/proc/" .. name .. "/stat")
          if f then
            local st, pgrp = (f:read("a") or ""):match("%) (%a) %d+ (%d+)")
            f:close()
            if tonumber(pgrp) == pid and st ~= "Z" then left = left + 1 end
          end
        end
        if left == 0 then return true end
        sys.sleep_ms(10)
      end
      return false
    ]])
    assert.is_true(gone)
    assert.error_matches(function() sys.kill(-1, 0) end, "not a process id")
    assert.error_matches(function() sys.kill(0, 0) end, "not a process id")
    assert.error_matches(function() sys.kill(-4294967295, 0) end, "not a process id")
  end)

  it("isatty and term_width refuse unknown streams", function()
    assert.error_matches(function() sys.isatty("stdlog") end, "bad argument #1 to 'isatty' %(invalid option 'stdlog'%)")
    assert.error_matches(function() sys.term_width(1) end, "bad argument #1 to 'term_width'")
  end)
end)
