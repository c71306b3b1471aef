local hash = require("gt.hash")
local helpers = require("helpers")

describe("gt.hash", function()
  it("sha256 gives the digests of FIPS 180-2's examples", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash.sha256(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hash.sha256("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      hash.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("sha256 hashes every byte, NULs included, at every length around a block", function()
    assert.not_equal(hash.sha256("a"), hash.sha256("a\0"))
    local seen = {}
    for n = 50, 70 do
      local d = hash.sha256(("x"):rep(n))
      assert.matches("^%x+$", d)
      assert.equal(64, #d)
      assert.is_nil(seen[d])
      seen[d] = true
    end
  end)

  it("sha256 of a 1 MB string and sha256_file of the same bytes agree with sha256sum", function()
    local parts = {}
    for i = 1, 1024 * 1024 / 16 do parts[i] = ("%015d\n"):format(i) end
    local data = table.concat(parts)
    assert.equal(1024 * 1024, #data)
    local path = helpers.tmpdir("hash") .. "/data"
    helpers.write(path, data)
    local r = helpers.run({ "sha256sum", path })
    assert.equal(0, r.code, r.stderr)
    local expected = r.stdout:match("^(%x+)  ")
    assert.equal(expected, hash.sha256(data))
    assert.equal(expected, hash.sha256_file(path))
  end)

  it("sha256_file of an empty file, and of a missing one (ENOTFOUND)", function()
    local dir = helpers.tmpdir("hash")
    helpers.write(dir .. "/empty", "")
    assert.equal(hash.sha256(""), hash.sha256_file(dir .. "/empty"))
    assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
      { hash.sha256_file(dir .. "/nope") })
  end)

  it("raises on misuse", function()
    assert.has_error(function() hash.sha256() end)
    assert.has_error(function() hash.sha256_file({}) end)
  end)
end)
