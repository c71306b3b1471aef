-- gt.progress: what reaches stderr, read from child gt processes, on a pipe and, through
-- script(1), on a terminal.
local progress = require("gt.progress")
local proc = require("gt.proc")
local helpers = require("helpers")

describe("gt.progress", function()
  it("writes sizes briefly", function()
    assert.equal("0 B", progress.bytes(0))
    assert.equal("1023 B", progress.bytes(1023))
    assert.equal("1.5 KiB", progress.bytes(1536))
    assert.equal("2.0 MiB", progress.bytes(2 * 1024 * 1024))
    assert.equal("3.0 GiB", progress.bytes(3 * 1024 ^ 3))
  end)

  describe("in a child process", function()
    local dir
    before_each(function() dir = helpers.tmpdir("progress") end)

    local function script(source)
      local path = dir .. "/s.lua"
      helpers.write(path, "local progress = require('gt.progress')\n" ..
        "local output = require('gt.output')\n" .. source)
      return path
    end

    --- Runs `source` on a terminal of 80 columns made by script(1): what it showed.
    local function run_tty(source, args)
      if not proc.which("script") then pending("script(1) is not installed") end
      local cmd = ("stty cols 80 && '%s' -l '%s' %s"):format(gt.executable, script(source), args or "")
      local r = helpers.run({ "script", "-qec", cmd, "/dev/null" })
      assert.equal(1, r.code, r.stdout .. r.stderr) -- the error COUNT ends with
      return (r.stdout:gsub("\r\n", "\n"))
    end

    local COUNT = [[
      progress.quiet = arg[1] == "quiet"
      progress.INTERVAL_MS = 1e9 -- no redraw of a count before its end
      local bar <close> = progress.start("Writing files")
      assert((bar.callback ~= nil) == progress.enabled())
      bar:update(0, 4)
      bar:update(1, 4) -- too soon after the last: skipped
      bar:update(4, 4, "done")
      output.say("said")
      bar:update(4, 4, "done") -- drawn again, after the line said
      bar:finish()
      bar:update(4, 4) -- finished: nothing
      local n <close> = progress.start("Deleting files")
      n:update(12)
      local l <close> = progress.start("Reading")
      l:update()
      require("gt.errors").raise("failure", "boom") -- the <close> variables clear the line
    ]]

    it("draws nothing when stderr is not a terminal, and gives no callback", function()
      local code, out, err = helpers.gt({ "-l", script(COUNT) })
      assert.equal(1, code)
      assert.equal("said\n", out)
      assert.equal("gt: boom\n", err)
      assert.is_nil(err:find("\r", 1, true))
    end)

    it("redraws one line, skipping redraws too soon, cleared before other output and at the end", function()
      local shown = run_tty(COUNT)
      local bar0 = "Writing files   0% (0/4) [" .. ("."):rep(52) .. "]"
      local bar4 = "Writing files 100% (4/4), done [" .. ("#"):rep(46) .. "]"
      local expected = "\r" .. bar0 .. "\27[K" .. "\r" .. bar4 .. "\27[K" .. "\r\27[K" .. "said\n" ..
        "\r" .. bar4 .. "\27[K" .. "\r\27[K" .. "\rDeleting files: 12\27[K" .. "\rReading\27[K" ..
        "\r\27[K"
      assert.equal(expected, shown:sub(1, #expected))
      assert.equal("gt: boom\n", shown:sub(#expected + 1))
    end)

    it("draws nothing with --quiet", function()
      local shown = run_tty(COUNT, "quiet")
      assert.is_nil(shown:find("\r", 1, true), shown)
      assert.equal("said\ngt: boom\n", shown)
    end)
  end)
end)
