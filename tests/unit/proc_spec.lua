local proc = require("gt.proc")
local fs = require("gt.fs")
local sys = require("gt.sys")
local helpers = require("helpers")

-- A process killed but not yet reaped is a zombie that pid_alive still sees; this container's
-- init reaps orphans only now and then, so a zombie counts as gone.
local function running(pid)
  if not sys.pid_alive(pid) then return false end
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function eventually(check, ms)
  local deadline = sys.clock_ms() + ms
  while not check() and sys.clock_ms() < deadline do sys.sleep_ms(10) end
  return check()
end

-- gt's children, zombies included, from /proc.
local function children()
  local list = {}
  for _, name in ipairs(assert(fs.dir("/proc"))) do
    local f = name:match("^%d+$") and io.open("/proc/" .. name .. "/stat")
    if f then
      local ppid = tonumber((f:read("a") or ""):match("^%d+ %b() %a (%d+)"))
      f:close()
      if ppid == sys.pid() then list[#list + 1] = tonumber(name) end
    end
  end
  return list
end

local function open_fds()
  return #assert(fs.dir("/proc/self/fd"))
end

local function chmod(mode, path)
  assert(proc.run({ argv = { "chmod", mode, path } }).ok)
end

local function fail(...)
  return { ... }
end

describe("gt.proc", function()
  local dir
  before_each(function() dir = helpers.tmpdir("proc") end)

  describe("run", function()
    it("collects the exit code, stdout and stderr", function()
      local r = assert(proc.run({
        argv = { "/bin/sh", "-c", "printf out; printf err >&2; exit 3" },
      }))
      assert.equal(3, r.code)
      assert.is_nil(r.signal)
      assert.is_false(r.ok)
      assert.equal("out", r.stdout)
      assert.equal("err", r.stderr)
      assert.is_false(r.timed_out)
      assert.is_true(math.type(r.pid) == "integer" and r.pid > 0)
    end)

    it("reports success as ok = true and code = 0", function()
      local r = assert(proc.run({ argv = { "true" } }))
      assert.same({ 0, true, "", "" }, { r.code, r.ok, r.stdout, r.stderr })
    end)

    it("passes argv through without a shell", function()
      local r = assert(proc.run({ argv = { "printf", "%s|", "a b", "$HOME", "*", "" } }))
      assert.equal("a b|$HOME|*||", r.stdout)
    end)

    it("runs in cwd", function()
      assert.equal(dir .. "\n", assert(proc.run({ argv = { "pwd" }, cwd = dir })).stdout)
    end)

    it("adds, overrides and removes environment variables", function()
      local r = assert(proc.run({
        argv = { "sh", "-c", 'printf "%s|%s" "$GT_PROC_A" "$HOME"' },
        env = { GT_PROC_A = "a=1", HOME = dir },
      }))
      assert.equal("a=1|" .. dir, r.stdout)
      local with = assert(proc.run({ argv = { "env" } })).stdout
      local without = assert(proc.run({ argv = { "env" }, env = { PATH = false } })).stdout
      assert.matches("\nPATH=", "\n" .. with)
      assert.not_matches("\nPATH=", "\n" .. without)
    end)

    it("starts from an empty environment with clear_env", function()
      local r = assert(proc.run({ argv = { "env" }, clear_env = true, env = { ONLY = "1" } }))
      assert.equal("ONLY=1\n", r.stdout)
      assert.equal("", assert(proc.run({ argv = { "env" }, clear_env = true })).stdout)
    end)

    it("searches PATH from opts.env, and only its absolute entries", function()
      helpers.write(dir .. "/bin/gt-tool", "#!/bin/sh\necho tool\n")
      chmod("755", dir .. "/bin/gt-tool")
      local path = "/nonexistent:" .. dir .. "/bin"
      local r = assert(proc.run({ argv = { "gt-tool" }, env = { PATH = path } }))
      assert.equal("tool\n", r.stdout)
      -- "." or "" would find the tool in the repository gt runs in: never searched.
      assert.same({ nil, "gt-tool: No such file or directory", "ENOTFOUND" },
        fail(proc.run({ argv = { "gt-tool" }, cwd = dir .. "/bin", env = { PATH = ".::bin" } })))
    end)

    it("writes a stdin string and reads /dev/null without one", function()
      assert.equal("hello", assert(proc.run({ argv = { "cat" }, stdin = "hello" })).stdout)
      assert.equal("", assert(proc.run({ argv = { "cat" }, stdin = "" })).stdout)
      assert.equal("", assert(proc.run({ argv = { "cat" } })).stdout)
    end)

    it("round-trips 1 MiB through cat without deadlock", function()
      local input = string.rep("0123456789abcdef\n", 65536 // 17 * 16 + 1):sub(1, 1048576)
      assert.equal(1048576, #input)
      local r = assert(proc.run({ argv = { "cat" }, stdin = input }))
      assert.is_true(r.ok)
      assert.equal(input, r.stdout)
    end)

    it("collects 1 MiB on stdout and on stderr at once", function()
      local r = assert(proc.run({
        argv = { "sh", "-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2" },
      }))
      assert.equal(string.rep("\0", 1048576), r.stdout)
      assert.equal(1048576, #r.stderr)
    end)

    it("is not killed by a child that does not read its input", function()
      local r = assert(proc.run({ argv = { "true" }, stdin = string.rep("x", 1048576) }))
      assert.is_true(r.ok)
      r = assert(proc.run({ argv = { "head", "-c", "3" }, stdin = string.rep("x", 1048576) }))
      assert.equal("xxx", r.stdout)
    end)

    it("streams output to callbacks, in order, without keeping it", function()
      local chunks, err_chunks = {}, {}
      local r = assert(proc.run({
        argv = { "seq", "1", "200000" },
        stdout = function(chunk) chunks[#chunks + 1] = chunk end,
        stderr = function(chunk) err_chunks[#err_chunks + 1] = chunk end,
      }))
      local expected = {}
      for i = 1, 200000 do expected[i] = i .. "\n" end
      assert.equal(table.concat(expected), table.concat(chunks))
      assert.is_true(#chunks > 1)
      assert.same({}, err_chunks)
      assert.is_nil(r.stdout)
      assert.is_nil(r.stderr)
      assert.is_true(r.ok)
    end)

    it("kills the child and re-raises when a callback raises", function()
      local pid
      local t0 = sys.clock_ms()
      local ok, err = pcall(proc.run, {
        argv = { "sh", "-c", "echo $$; exec sleep 30" },
        stdout = function(chunk)
          pid = tonumber(chunk:match("%d+"))
          error({ reason = "enough" })
        end,
      })
      assert.is_false(ok)
      assert.same({ reason = "enough" }, err)
      assert.is_true(sys.clock_ms() - t0 < 5000)
      assert.is_false(sys.pid_alive(pid)) -- killed and reaped
    end)

    it("kills the child at once even in a coroutine that dies of the callback's error", function()
      local pid
      local co = coroutine.create(proc.run)
      local ok, err = coroutine.resume(co, {
        argv = { "sh", "-c", "echo $$; exec sleep 30" },
        stdout = function(chunk)
          pid = tonumber(chunk:match("%d+"))
          error("enough", 0)
        end,
      })
      assert.is_false(ok)
      assert.equal("enough", err)
      assert.is_false(sys.pid_alive(pid))
    end)

    it("ends a run that exceeds timeout_ms with SIGTERM", function()
      local t0 = sys.clock_ms()
      local r = assert(proc.run({ argv = { "sleep", "30" }, timeout_ms = 200 }))
      local took = sys.clock_ms() - t0
      assert.is_true(took >= 200 and took < 1500, "took " .. took .. " ms")
      assert.is_true(r.timed_out)
      assert.equal(15, r.signal)
      assert.is_nil(r.code)
      assert.is_false(r.ok)
    end)

    it("kills the child's descendants on timeout", function()
      local pidfile = dir .. "/grandchild.pid"
      local r = assert(proc.run({
        argv = { "sh", "-c", 'sleep 30 & echo $! > "$1"; wait', "sh", pidfile },
        timeout_ms = 300,
      }))
      assert.is_true(r.timed_out)
      local grandchild = tonumber(helpers.read(pidfile))
      assert.is_true(eventually(function() return not running(grandchild) end, 2000))
    end)

    it("sends SIGKILL 1000 ms after a SIGTERM that is ignored", function()
      local t0 = sys.clock_ms()
      local r = assert(proc.run({
        argv = { "sh", "-c", "trap '' TERM; sleep 30" },
        timeout_ms = 100,
      }))
      local took = sys.clock_ms() - t0
      assert.is_true(took >= 1100 and took < 3000, "took " .. took .. " ms")
      assert.is_true(r.timed_out)
      assert.equal(9, r.signal)
      assert.is_nil(r.code)
    end)

    it("reports a child killed by a signal", function()
      local r = assert(proc.run({ argv = { "sh", "-c", "kill -KILL $$" } }))
      assert.same({ 9, false, false }, { r.signal, r.ok, r.timed_out })
      assert.is_nil(r.code)
      r = assert(proc.run({ argv = { "sh", "-c", "kill -TERM $$" } }))
      assert.equal(15, r.signal)
      assert.is_nil(r.code)
    end)

    it("ends the child when gt is interrupted, then gt's own handling runs", function()
      local pidfile = dir .. "/sleep.pid"
      local script = dir .. "/interrupted.lua"
      helpers.write(script, ([[
        io.stdout:write(require("gt.sys").pid(), "\n"); io.stdout:flush()
        require("gt.proc").run({ argv = { "sh", "-c", 'echo $$ > "$1"; exec sleep 30', "sh", %q } })
        io.stdout:write("not reached\n")
      ]]):format(pidfile))
      local sent = false
      local r = assert(proc.run({
        argv = { gt.executable, "-l", script },
        timeout_ms = 10000,
        stdout = function(chunk)
          if sent then return end
          local gt_pid = chunk:match("^(%d+)\n")
          assert(eventually(function() return helpers.read(pidfile) ~= nil end, 5000))
          assert(proc.run({ argv = { "kill", "-INT", gt_pid } }).ok)
          sent = true
        end,
      }))
      assert.is_true(sent)
      assert.is_false(r.timed_out)
      assert.equal(130, r.code)
      assert.equal("gt: interrupted\n", r.stderr) -- a user error: no traceback
      local sleeper = tonumber(helpers.read(pidfile))
      assert.is_true(eventually(function() return not running(sleeper) end, 2000))
    end)

    it("inherits gt's stdin and stdout when asked", function()
      local script = dir .. "/inherit.lua"
      helpers.write(script, [[
        io.stdout:write("gt first, ") -- buffered: flushed before the child writes
        local r = require("gt.proc").run({
          argv = { "cat" }, stdin = "inherit", stdout = "inherit",
        })
        io.stdout:write(tostring(r.stdout), " ", r.stderr, "|")
      ]])
      local r = assert(proc.run({ argv = { gt.executable, "-l", script }, stdin = "passed on " }))
      assert.equal("gt first, passed on nil |", r.stdout)
      assert.equal(0, r.code)
    end)

    it("fails with ENOTFOUND for a missing program", function()
      assert.same({ nil, "nosuchprog-xyz: No such file or directory", "ENOTFOUND" },
        fail(proc.run({ argv = { "nosuchprog-xyz" } })))
      assert.same({ nil, dir .. "/missing: No such file or directory", "ENOTFOUND" },
        fail(proc.run({ argv = { dir .. "/missing" } })))
    end)

    it("fails with ENOTFOUND for a missing cwd", function()
      assert.same({ nil, dir .. "/missing: No such file or directory", "ENOTFOUND" },
        fail(proc.run({ argv = { "pwd" }, cwd = dir .. "/missing" })))
    end)

    it("fails with EACCES for a file that is not executable", function()
      helpers.write(dir .. "/script", "#!/bin/sh\necho never\n")
      assert.same({ nil, dir .. "/script: Permission denied", "EACCES" },
        fail(proc.run({ argv = { dir .. "/script" } })))
      -- found on PATH but not executable: EACCES too, as execvp reports it
      assert.same({ nil, "script: Permission denied", "EACCES" },
        fail(proc.run({ argv = { "script" }, env = { PATH = dir } })))
    end)

    it("leaves no descriptor and no child process behind", function()
      local before = open_fds()
      for _ = 1, 3 do
        assert(proc.run({ argv = { "sh", "-c", "echo out; echo err >&2" }, stdin = "in" }))
        proc.run({ argv = { "nosuchprog-xyz" } })
        proc.run({ argv = { "pwd" }, cwd = dir .. "/missing" })
        proc.run({ argv = { "sleep", "30" }, timeout_ms = 10 })
        pcall(proc.run, { argv = { "echo" }, stdout = function() error("x") end })
      end
      assert.equal(before, open_fds())
      assert.same({}, children())
    end)

    it("passes no descriptor but 0, 1 and 2 to the child", function()
      local f = assert(io.open(dir .. "/open-in-gt", "w")) -- fopen: not close-on-exec
      local r = assert(proc.run({ argv = { "ls", "-l", "/proc/self/fd/" } }))
      f:close()
      assert.not_matches("open%-in%-gt", r.stdout)
      assert.not_matches(" [3-9] %->.*pipe:", r.stdout)
    end)

    it("raises on misuse", function()
      local function raises(opts, pattern)
        assert.error_matches(function() proc.run(opts) end, pattern)
      end
      raises("ls", "bad argument #1 to 'run' %(table expected, got string%)")
      raises({}, "bad argument #1 to 'run' %('argv' must be a non%-empty array of strings%)")
      raises({ argv = {} }, "'argv' must be a non%-empty array")
      raises({ argv = "ls" }, "'argv' must be a non%-empty array")
      raises({ argv = { "echo", 3 } },
        "bad argument #1 to 'run' %(argv%[2%] must be a string, got number%)")
      raises({ argv = { "" } }, "argv%[1%] must not be empty")
      raises({ argv = { "a\0b" } }, "bad option 'argv' %(contains a NUL byte%)")
      raises({ argv = { "ls" }, stdout = "bogus" },
        "bad option 'stdout' %(\"capture\", \"inherit\" or a function expected, got bogus%)")
      raises({ argv = { "ls" }, stderr = 1 }, "bad option 'stderr'")
      raises({ argv = { "ls" }, stdin = {} }, "bad option 'stdin' %(string expected, got table%)")
      raises({ argv = { "ls" }, timeout_ms = 0 }, "timeout_ms must be > 0")
      raises({ argv = { "ls" }, timeout_ms = 1.5 }, "bad option 'timeout_ms'")
      raises({ argv = { "ls" }, cwd = 1 }, "bad option 'cwd'")
      raises({ argv = { "ls" }, env = { A = 1 } }, "env.A must be a string or false, got number")
      raises({ argv = { "ls" }, env = { ["A=B"] = "x" } }, "bad environment variable name 'A=B'")
      raises({ argv = { "ls" }, env = "A=1" }, "'env' must be a table")
      raises({ argv = { "ls" }, timeout = 5 }, "unknown option 'timeout'")
    end)
  end)

  describe("run in the foreground", function()
    it("keeps the child in gt's process group and calls started with its pid", function()
      local seen
      local r = assert(proc.run({ argv = { "sh", "-c", "cut -d' ' -f5 /proc/$$/stat; echo $$" },
        foreground = true, started = function(pid) seen = pid end }))
      local pgrp, pid = r.stdout:match("^(%d+)\n(%d+)\n$")
      local own = helpers.read("/proc/self/stat"):match("%) %a %d+ (%d+)")
      assert.equal(own, pgrp)
      assert.equal(r.pid, tonumber(pid))
      assert.equal(r.pid, seen)
    end)

    it("kills and reaps the child when started raises", function()
      local pid
      local ok, err = pcall(proc.run, { argv = { "sleep", "30" }, foreground = true,
        started = function(p) pid = p; error("no ledger") end })
      assert.is_false(ok)
      assert.matches("no ledger", err)
      assert.is_false(running(pid))
      assert.same({}, children())
      assert.error_matches(function() proc.run({ argv = { "true" }, started = 1 }) end,
        "bad option 'started' %(function expected, got number%)")
    end)

    it("passes SIGINT and SIGTERM sent to gt on to the child, which decides", function()
      local script = dir .. "/foreground.lua"
      helpers.write(script, [[
        local r = require("gt.proc").run({ argv = { "sh", "-c",
          "trap 'echo INT' INT; trap 'echo TERM; exit 7' TERM; echo ready; while :; do sleep 0.02; done" },
          foreground = true, stdout = "inherit" })
        io.stdout:write("code ", tostring(r.code), "\n")
      ]])
      local sent = 0
      local gt_pid
      local r = assert(proc.run({
        argv = { gt.executable, "-l", script }, timeout_ms = 10000,
        started = function(pid) gt_pid = pid end,
        stdout = function(chunk)
          if chunk:find("ready") then sent = 1; assert(sys.kill(gt_pid, 2)) end
          if chunk:find("INT") and sent == 1 then sent = 2; assert(sys.kill(gt_pid, 15)) end
        end,
      }))
      assert.equal(2, sent)
      assert.equal(0, r.code, r.stderr) -- gt was not interrupted: the child ended, gt went on
      assert.equal("", r.stderr)
    end)
  end)

  describe("start", function()
    -- In a child gt: the supervisors stay that process's children, not this one's.
    it("runs the program detached: own session and group, /dev/null in, output appended to the log", function()
      local pid, first, text, second = helpers.in_child([[
        local proc, sys = require("gt.proc"), require("gt.sys")
        local dir = ...
        local function wait_status(path)
          local deadline = sys.clock_ms() + 5000
          while sys.clock_ms() < deadline do
            local f = io.open(path)
            local s = f and f:read("a")
            if f then f:close() end
            if s and s ~= "" then return s end
            sys.sleep_ms(5)
          end
        end
        local log, status = dir .. "/out.log", dir .. "/status"
        local script = 'cut -d" " -f5,6 /proc/$$/stat; pwd; echo "$X"; cat; echo err >&2; exit 3'
        local pid = assert(proc.start({ argv = { "sh", "-c", script }, cwd = dir, env = { X = "x" },
          log = log, status = status }))
        local first = wait_status(status)
        assert(proc.start({ argv = { "sh", "-c", "echo again; kill -TERM $$" }, log = log, status = status }))
        local second = wait_status(status)
        local f = assert(io.open(log))
        local text = f:read("a")
        f:close()
        return pid, first, text, second
      ]], { dir })
      assert.equal(("%d 3\n"):format(pid), first)
      assert.equal(("%d %d\n%s\nx\nerr\n"):format(pid, pid, dir), text:match("^(.-)again\n$"))
      assert.matches("^%d+ 143\n$", second)
    end)

    it("holds none of gt's descriptors, and ignores the signals that stop a session", function()
      local fds, alive_after_term = helpers.in_child([[
        local proc, sys = require("gt.proc"), require("gt.sys")
        local dir = ...
        local keep = assert(io.open(dir .. "/held", "w")) -- open in gt, not close-on-exec
        local pid = assert(proc.start({ argv = { "sleep", "5" }, log = "/dev/null", status = dir .. "/st" }))
        local fds = {}
        for _, fd in ipairs(assert(require("gt.fs").dir("/proc/" .. pid .. "/fd"))) do
          fds[#fds + 1] = tonumber(fd)
        end
        table.sort(fds)
        assert(sys.kill(pid, 15)) -- the supervisor alone: ignored
        sys.sleep_ms(50)
        local alive = sys.proc_start(pid) ~= nil
        assert(sys.kill(-pid, 9))
        keep:close()
        return fds, alive
      ]], { dir })
      -- /dev/null, the log twice, the status file.
      assert.same({ 0, 1, 2 }, { table.unpack(fds, 1, 3) })
      assert.equal(4, #fds)
      assert.is_true(alive_after_term)
    end)

    it("fails as run does when the program cannot start, leaving nothing running", function()
      local results = helpers.in_child([[
        local proc = require("gt.proc")
        local dir = ...
        local function try(opts) return { proc.start(opts) } end
        return {
          try({ argv = { "nosuchprog-xyz" }, log = dir .. "/l" }),
          try({ argv = { "pwd" }, cwd = dir .. "/missing", log = dir .. "/l" }),
          try({ argv = { "pwd" }, log = dir .. "/missing/l" }),
        }
      ]], { dir })
      assert.same({ nil, "nosuchprog-xyz: No such file or directory", "ENOTFOUND" }, results[1])
      assert.same({ nil, dir .. "/missing: No such file or directory", "ENOTFOUND" }, results[2])
      assert.same({ nil, dir .. "/missing/l: No such file or directory", "ENOTFOUND" }, results[3])
      assert.error_matches(function() proc.start({ argv = { "ls" } }) end, "'log' must be a path")
      assert.error_matches(function() proc.start({ argv = { "ls" }, log = "x", stdout = "inherit" }) end,
        "unknown option 'stdout'")
    end)
  end)

  describe("which", function()
    it("finds an executable on PATH", function()
      local sh = assert(proc.which("sh"))
      assert.matches("^/.*/sh$", sh)
      assert.equal("file", fs.stat(sh).type)
    end)

    it("searches the given path, skipping what is not an executable file", function()
      helpers.write(dir .. "/a/tool", "")
      helpers.write(dir .. "/b/tool/x", "") -- a directory named tool
      helpers.write(dir .. "/c/tool", "#!/bin/sh\n")
      chmod("755", dir .. "/c/tool")
      local path = ("%s/a:%s/b:rel:%s/c"):format(dir, dir, dir)
      assert.equal(dir .. "/c/tool", proc.which("tool", path))
      assert.equal(dir .. "/c/tool", proc.which(dir .. "/c/tool"))
    end)

    it("fails with ENOTFOUND for an unknown program", function()
      assert.same({ nil, "no-such-program-xyz: not found on PATH", "ENOTFOUND" },
        fail(proc.which("no-such-program-xyz")))
      assert.same({ nil, "sh: not found on PATH", "ENOTFOUND" }, fail(proc.which("sh", "")))
    end)

    it("raises on misuse", function()
      assert.error_matches(function() proc.which() end, "bad argument #1 to 'which'")
      assert.error_matches(function() proc.which("") end,
        "bad argument #1 to 'which' %(must not be empty%)")
    end)
  end)
end)
