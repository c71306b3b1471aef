local branch = require("gt.branch")

describe("gt.branch", function()
  describe("base36", function()
    it("encodes known values", function()
      assert.equal("0", branch.base36(0))
      assert.equal("1", branch.base36(1))
      assert.equal("z", branch.base36(35))
      assert.equal("10", branch.base36(36))
      assert.equal("zz", branch.base36(36 * 36 - 1))
      assert.equal("100", branch.base36(36 * 36))
      assert.equal("loyw3v28", branch.base36(1700000000000))
      assert.equal("mwwmsmnu", branch.base36(1795641849786))
      assert.equal("1y2p0ij32e8e7", branch.base36(math.maxinteger))
    end)

    it("refuses what is not a non-negative integer", function()
      assert.error_matches(function() branch.base36(-1) end, "base36 needs a non%-negative integer")
      assert.error_matches(function() branch.base36(1.5) end, "base36 needs a non%-negative integer")
      assert.error_matches(function() branch.base36("1") end, "base36 needs a non%-negative integer")
    end)

    it("round-trips through from_base36", function()
      local values = { 0, 1, 35, 36, 1295, 1296, 1700000000000, 1795641849786, 1 << 53,
        math.maxinteger - 1, math.maxinteger }
      local seed = 12345
      for _ = 1, 500 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        values[#values + 1] = (seed * seed * (seed % 7 + 1)) & math.maxinteger
      end
      for _, n in ipairs(values) do
        local s = branch.base36(n)
        assert.matches("^[0-9a-z]+$", s)
        assert.equal(n, branch.from_base36(s), s)
        assert.equal("integer", math.type(branch.from_base36(s)))
      end
    end)

    it("decodes only what base36 writes", function()
      for _, s in ipairs({ "", "A", "1Z", "-1", "+1", " 1", "1 ", "1.5", "0x10", "00", "01",
          "0z", "1y2p0ij32e8e8", "zzzzzzzzzzzzz", "zzzzzzzzzzzzzzzzzzzz" }) do
        assert.is_nil(branch.from_base36(s), s)
      end
      assert.is_nil(branch.from_base36(nil))
      assert.is_nil(branch.from_base36(10))
    end)
  end)

  describe("format", function()
    it("writes Gas Town's two forms", function()
      assert.equal("polecat/toast-mwwmsmnu", branch.format("toast", nil, 1795641849786))
      assert.equal("polecat/toast/gt-123@mwwmsmnu",
        branch.format("toast", "gt-123", 1795641849786))
      assert.equal("polecat/a-0", branch.format("a", nil, 0))
    end)
  end)

  describe("parse", function()
    it("reads both forms", function()
      assert.same({ "toast", nil, 46 }, { branch.parse("polecat/toast-1a") })
      assert.same({ "toast", "gt-123", 46 }, { branch.parse("polecat/toast/gt-123@1a") })
      assert.same({ "a-b-c", nil, 12 }, { branch.parse("polecat/a-b-c-c") })
      assert.same({ "a-1", "x-2", 0 }, { branch.parse("polecat/a-1/x-2@0") })
    end)

    it("is the exact inverse of format, over many names, issues and stamps", function()
      local pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
      local seed = 42
      local function rand(n)
        seed = (seed * 6364136223846793005 + 1442695040888963407) & math.maxinteger
        return (seed >> 33) % n + 1
      end
      local function random_name()
        while true do
          local len = rand(63)
          local chars = {}
          for i = 1, len do
            local k = rand(#pool)
            chars[i] = pool:sub(k, k)
          end
          local name = table.concat(chars)
          if not require("gt.names").problem(name) then return name end
        end
      end
      local stamps = { 0, 1, 35, 36, math.maxinteger, 1700000000000 }
      for i = 1, 2000 do
        local name = random_name()
        local issue = i % 2 == 0 and random_name() or nil
        local ms = stamps[i] or (rand(1 << 31) * rand(1 << 31))
        local ref = branch.format(name, issue, ms)
        local n2, i2, ms2 = branch.parse(ref)
        assert.equal(name, n2, ref)
        assert.equal(issue, i2, ref)
        assert.equal(ms, ms2, ref)
        assert.equal(ref, branch.format(n2, i2, ms2))
      end
    end)

    it("rejects what format cannot write", function()
      for _, ref in ipairs({
        "", "polecat/", "polecat/a", "polecat/-1", "polecat/a-", "polecat/a-1A", "polecat/a-01",
        "polecat/a-00", "polecat/a-zzzzzzzzzzzzz", "polecat/a/b", "polecat/a/b@", "polecat/a/@1",
        "polecat//b@1", "polecat/a/b@1A", "polecat/a/b/c@1", "polecat/a/b@01", "refs/heads/polecat/a-1",
        "main", "polecat-a-1", "Polecat/a-1", "polecat/a b-1", "polecat/.a-1", "polecat/a..b-1",
        "polecat/a.lock-1", "polecat/a./b@1", "polecat/a/b.lock@1", "polecat/a/b c@1",
        "polecat/a/@{u}@1", "polecat/a\n-1", "polecat/a-1\n", ("polecat/%s-1"):format(("n"):rep(64)),
      }) do
        assert.is_nil(branch.parse(ref), ref)
      end
      assert.is_nil(branch.parse(nil))
      assert.is_nil(branch.parse(7))
    end)
  end)
end)
