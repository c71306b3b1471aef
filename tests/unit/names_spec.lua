local names = require("gt.names")
local errors = require("gt.errors")

describe("gt.names", function()
  describe("problem", function()
    it("accepts names git accepts as a ref component", function()
      for _, name in ipairs({ "a", "Z", "7", "polecat-1", "a.b", "a_b", "A.b-c_d.9", "x.lockx",
          "a.lock.b", "lock", ("n"):rep(63) }) do
        assert.is_nil(names.problem(name), name)
      end
    end)

    local function refused(reason, list)
      for _, name in ipairs(list) do
        assert.equal(reason, names.problem(name), errors.quote(name))
      end
    end

    it("refuses what is not a string", function()
      assert.equal("must be a string", names.problem(nil))
      assert.equal("must be a string", names.problem(42))
      assert.equal("must be a string", names.problem({}))
    end)

    it("refuses the empty name", function()
      refused("must not be empty", { "" })
    end)

    it("refuses 64 characters and more, counting bytes", function()
      assert.equal(63, names.MAX_LENGTH)
      refused("is 64 characters long; the limit is 63", { ("n"):rep(64), "-" .. ("n"):rep(63) })
      refused("is 200 characters long; the limit is 63", { ("x"):rep(200) })
      -- 32 two-byte characters are 64 bytes
      refused("is 64 characters long; the limit is 63", { ("\xc3\xa9"):rep(32) })
    end)

    it("refuses a first character that is not a letter or a digit", function()
      refused("must start with a letter or a digit",
        { ".hidden", "-rf", "_x", "../x", "/abs", " a", "@{u}", "\ta", "\xc3\xa9t\xc3\xa9", "." })
    end)

    it("refuses other characters, quoting the first one found", function()
      local function bad(name, quoted)
        assert.equal("must contain only letters, digits, '.', '_' and '-' (found " .. quoted .. ")",
          names.problem(name), errors.quote(name))
      end
      bad("a b", "' '")
      bad("a\tb", "'\\t'")
      bad("a\nb", "'\\n'")
      bad("a\1b", "'\\x01'")
      bad("a\127", "'\\x7f'")
      bad("a/b", "'/'")
      bad("a\\b", "'\\\\'")
      bad("a'b", "'\\''")
      bad("a@{u}", "'@'")
      bad("a:b", "':'")
      bad("a~1", "'~'")
      bad("a^", "'^'")
      bad("a?", "'?'")
      bad("a*", "'*'")
      bad("a[b", "'['")
      bad("caf\xc3\xa9", "'\\xc3'")
      bad("x y/z", "' '")
    end)

    it("refuses '..' anywhere", function()
      refused("must not contain '..'", { "x..y", "a..", "a...b" })
    end)

    it("refuses a trailing '.'", function()
      refused("must not end in '.'", { "a.", "a.b." })
    end)

    it("refuses a trailing '.lock'", function()
      refused("must not end in '.lock'", { "x.lock", "a.b.lock" })
    end)
  end)

  describe("check", function()
    it("returns a valid name", function()
      assert.equal("ok-1", names.check("ok-1", "polecat name"))
    end)

    it("raises a usage error (exit 2) naming what and why", function()
      local ok, e = pcall(names.check, "a b", "polecat name")
      assert.is_false(ok)
      assert.is_true(errors.is(e))
      assert.equal(2, e.exit)
      assert.equal("invalid polecat name 'a b': must contain only letters, digits, '.', '_' and '-' " ..
        "(found ' ')", e.message)
      ok, e = pcall(names.check, "", "rig name")
      assert.equal("invalid rig name '': must not be empty", e.message)
    end)
  end)
end)
