local fs = require("gt.fs")
local proc = require("gt.proc")
local helpers = require("helpers")

local function sh(script, dir)
  local r = assert(proc.run({ argv = { "/bin/sh", "-c", script }, cwd = dir }))
  assert(r.ok, r.stderr)
end

local function sorted(list)
  table.sort(list)
  return list
end

describe("gt.fs", function()
  local dir
  before_each(function() dir = helpers.tmpdir("fs") end)

  describe("stat and lstat", function()
    it("describe files, directories and links", function()
      helpers.write(dir .. "/f", "12345")
      sh("chmod 640 f && ln -s f link && ln -s missing dangling && mkfifo fifo", dir)
      local st = assert(fs.stat(dir .. "/f"))
      assert.equal("file", st.type)
      assert.equal(5, st.size)
      assert.equal(tonumber("640", 8), st.mode)
      assert.equal("integer", math.type(st.mtime_ms))
      assert.is_true(math.abs(st.mtime_ms - require("gt.sys").now_ms()) < 60000)
      assert.equal("directory", assert(fs.stat(dir)).type)
      assert.equal("other", assert(fs.stat(dir .. "/fifo")).type)
      -- stat follows the link, lstat does not
      assert.equal("file", assert(fs.stat(dir .. "/link")).type)
      assert.equal(st.ino, assert(fs.stat(dir .. "/link")).ino)
      assert.equal("link", assert(fs.lstat(dir .. "/link")).type)
      assert.equal("link", assert(fs.lstat(dir .. "/dangling")).type)
    end)

    it("fail with ENOTFOUND and ENOTDIR", function()
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.stat(dir .. "/nope") })
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.lstat(dir .. "/nope") })
      sh("ln -s missing dangling", dir)
      assert.same({ nil, dir .. "/dangling: No such file or directory", "ENOTFOUND" },
        { fs.stat(dir .. "/dangling") })
      helpers.write(dir .. "/f", "")
      assert.same({ nil, dir .. "/f/x: Not a directory", "ENOTDIR" }, { fs.stat(dir .. "/f/x") })
    end)
  end)

  describe("realpath", function()
    it("resolves links, '.' and '..'", function()
      sh("mkdir -p a/b && ln -s a/b l", dir)
      assert.equal(dir .. "/a/b", fs.realpath(dir .. "/l"))
      assert.equal(dir .. "/a", fs.realpath(dir .. "/l/.."))
      assert.equal(dir .. "/a/b", fs.realpath(dir .. "/./a//b/"))
    end)

    it("fails on a missing path", function()
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.realpath(dir .. "/nope") })
    end)
  end)

  describe("cwd", function()
    it("is the current directory of the process, links resolved", function()
      sh("mkdir real && ln -s real link", dir)
      local script = dir .. "/cwd.lua"
      helpers.write(script, 'io.write(require("gt.fs").cwd())')
      local r = helpers.run({ gt.executable, "-l", script }, { cwd = dir .. "/link" })
      assert.equal(0, r.code, r.stderr)
      assert.equal(dir .. "/real", r.stdout)
      assert.equal(fs.realpath("."), fs.cwd())
    end)
  end)

  describe("mkdir", function()
    it("makes one directory, with a mode", function()
      assert.is_true(fs.mkdir(dir .. "/a"))
      assert.equal("directory", fs.stat(dir .. "/a").type)
      assert.is_true(fs.mkdir(dir .. "/b", tonumber("700", 8)))
      assert.equal(tonumber("700", 8), fs.stat(dir .. "/b").mode)
    end)

    it("fails with EEXISTS, ENOTFOUND and ENOTDIR", function()
      assert.is_true(fs.mkdir(dir .. "/a"))
      assert.same({ nil, dir .. "/a: File exists", "EEXISTS" }, { fs.mkdir(dir .. "/a") })
      helpers.write(dir .. "/f", "")
      assert.same({ nil, dir .. "/f: File exists", "EEXISTS" }, { fs.mkdir(dir .. "/f") })
      assert.same({ nil, dir .. "/x/y: No such file or directory", "ENOTFOUND" },
        { fs.mkdir(dir .. "/x/y") })
      assert.same({ nil, dir .. "/f/y: Not a directory", "ENOTDIR" }, { fs.mkdir(dir .. "/f/y") })
    end)
  end)

  describe("mkdir_p", function()
    it("makes missing parents and accepts an existing directory", function()
      assert.is_true(fs.mkdir_p(dir .. "/a/b/c"))
      assert.equal("directory", fs.stat(dir .. "/a/b/c").type)
      assert.is_true(fs.mkdir_p(dir .. "/a/b/c"))
      assert.is_true(fs.mkdir_p(dir .. "/a//b/d/"))
      assert.equal("directory", fs.stat(dir .. "/a/b/d").type)
      assert.is_true(fs.mkdir_p("/"))
    end)

    it("follows a link to a directory", function()
      sh("mkdir target && ln -s target link", dir)
      assert.is_true(fs.mkdir_p(dir .. "/link/x"))
      assert.equal("directory", fs.lstat(dir .. "/target/x").type)
    end)

    it("fails with ENOTDIR when a file is in the way", function()
      helpers.write(dir .. "/f", "")
      assert.same({ nil, dir .. "/f: not a directory", "ENOTDIR" }, { fs.mkdir_p(dir .. "/f") })
      assert.same({ nil, dir .. "/f/x: Not a directory", "ENOTDIR" }, { fs.mkdir_p(dir .. "/f/x/y") })
      assert.is_nil(fs.lstat(dir .. "/f/x"))
    end)

    it("raises on an empty path", function()
      assert.error_matches(function() fs.mkdir_p("") end, "bad argument #1 to 'mkdir_p' %(empty path%)")
    end)
  end)

  describe("rmdir", function()
    it("removes an empty directory", function()
      assert.is_true(fs.mkdir(dir .. "/a"))
      assert.is_true(fs.rmdir(dir .. "/a"))
      assert.is_nil(fs.lstat(dir .. "/a"))
    end)

    it("fails with ENOTEMPTY, ENOTFOUND and ENOTDIR", function()
      helpers.write(dir .. "/a/f", "")
      assert.same({ nil, dir .. "/a: Directory not empty", "ENOTEMPTY" }, { fs.rmdir(dir .. "/a") })
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.rmdir(dir .. "/nope") })
      assert.same({ nil, dir .. "/a/f: Not a directory", "ENOTDIR" }, { fs.rmdir(dir .. "/a/f") })
      assert.equal("file", fs.lstat(dir .. "/a/f").type)
    end)
  end)

  describe("dir", function()
    it("lists the entries without '.' and '..', links not followed", function()
      helpers.write(dir .. "/a", "")
      helpers.write(dir .. "/.hidden", "")
      helpers.write(dir .. "/sub/inner", "")
      sh("ln -s sub link", dir)
      assert.same({ ".hidden", "a", "link", "sub" }, sorted(assert(fs.dir(dir))))
      assert.same({ "inner" }, fs.dir(dir .. "/link"))
      assert(fs.mkdir(dir .. "/empty"))
      assert.same({}, fs.dir(dir .. "/empty"))
    end)

    it("fails with ENOTFOUND and ENOTDIR", function()
      helpers.write(dir .. "/f", "")
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" }, { fs.dir(dir .. "/nope") })
      assert.same({ nil, dir .. "/f: Not a directory", "ENOTDIR" }, { fs.dir(dir .. "/f") })
    end)
  end)

  describe("remove_tree", function()
    it("removes a tree, hidden files included", function()
      helpers.write(dir .. "/t/a/b/c.txt", "c")
      helpers.write(dir .. "/t/.git/HEAD", "ref")
      helpers.write(dir .. "/t/top", "")
      assert.is_true(fs.remove_tree(dir .. "/t"))
      assert.is_nil(fs.lstat(dir .. "/t"))
      assert.same({}, fs.dir(dir))
    end)

    it("removes a single file, and a link without touching its target", function()
      helpers.write(dir .. "/f", "x")
      assert.is_true(fs.remove_tree(dir .. "/f"))
      assert.is_nil(fs.lstat(dir .. "/f"))
      helpers.write(dir .. "/outside/keep", "keep")
      sh("ln -s outside link", dir)
      assert.is_true(fs.remove_tree(dir .. "/link"))
      assert.is_nil(fs.lstat(dir .. "/link"))
      assert.equal("keep", helpers.read(dir .. "/outside/keep"))
    end)

    it("does not follow links inside the tree to folders outside it", function()
      helpers.write(dir .. "/outside/keep", "keep")
      helpers.write(dir .. "/outside/deep/keep", "deep")
      helpers.write(dir .. "/t/file", "")
      sh("ln -s ../outside t/to-dir && ln -s ../outside/keep t/to-file && mkdir t/sub && " ..
        "ln -s ../../outside t/sub/up && ln -s /nonexistent t/dangling", dir)
      assert.is_true(fs.remove_tree(dir .. "/t"))
      assert.is_nil(fs.lstat(dir .. "/t"))
      assert.same({ "deep", "keep" }, sorted(fs.dir(dir .. "/outside")))
      assert.equal("keep", helpers.read(dir .. "/outside/keep"))
      assert.equal("deep", helpers.read(dir .. "/outside/deep/keep"))
    end)

    it("removes read-only and unreadable subfolders", function()
      helpers.write(dir .. "/t/ro/f", "")
      helpers.write(dir .. "/t/none/deeper/f", "")
      helpers.write(dir .. "/t/none/g", "")
      sh("chmod 444 t/ro/f && chmod 555 t/ro && chmod 000 t/none/deeper && chmod 000 t/none", dir)
      assert.is_true(fs.remove_tree(dir .. "/t"))
      assert.is_nil(fs.lstat(dir .. "/t"))
    end)

    -- Root reads and writes any folder, so the case that matters (an ordinary user) is run as
    -- nobody when the suite runs as root.
    it("removes unreadable subfolders as an unprivileged user", function()
      local argv = { gt.executable, "-l" }
      local r = assert(proc.run({ argv = { "id", "-u" } }))
      local work = dir
      if r.stdout == "0\n" then
        local setpriv = assert(proc.run({ argv = { "sh", "-c", "command -v setpriv" } }))
        if not setpriv.ok then
          pending("running as root without setpriv")
          return
        end
        argv = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gt.executable, "-l" }
        if not assert(proc.run({ argv = { argv[1], argv[2], argv[3], argv[4], gt.executable, "--version" } })).ok then
          pending("nobody cannot run " .. gt.executable)
          return
        end
        -- $TMPDIR may be private to root (scripts/test makes it with mktemp -d)
        local made = assert(proc.run({ argv = { "mktemp", "-d", "/tmp/gt-fs-nobody-XXXXXX" } }))
        assert(made.ok, made.stderr)
        work = made.stdout:gsub("\n$", "")
        finally(function() fs.remove_tree(work) end)
        sh("chmod 777 " .. work)
      end
      local script = work .. "/rm.lua"
      helpers.write(script, ([[
        local fs = require("gt.fs")
        local t = %q
        assert(fs.mkdir_p(t .. "/a/b/c"))
        assert(io.open(t .. "/a/b/c/f", "w")):close()
        assert(io.open(t .. "/a/b/g", "w")):close()
        assert(io.open(t .. "/a/h", "w")):close()
        assert(os.execute("chmod 000 " .. t .. "/a/b/c " .. t .. "/a/b && chmod 555 " .. t .. "/a"))
        assert(not io.open(t .. "/a/h.new", "w"), "the test needs a user without root's rights")
        print(fs.remove_tree(t))
        print(fs.lstat(t))
      ]]):format(work .. "/t"))
      argv[#argv + 1] = script
      r = assert(proc.run({ argv = argv }))
      assert.equal(0, r.code, r.stderr)
      assert.equal("true\nnil\t" .. work .. "/t: No such file or directory\tENOTFOUND\n", r.stdout)
    end)

    it("fails with ENOTFOUND on a missing path", function()
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.remove_tree(dir .. "/nope") })
    end)
  end)

  --- The number of descriptors this process has open.
  local function open_fds()
    return #assert(fs.dir("/proc/self/fd"))
  end

  describe("copy_file", function()
    it("copies a regular file with its permission bits", function()
      helpers.write(dir .. "/src", "some bytes\n")
      sh("chmod 751 src", dir)
      local how = assert(fs.copy_file(dir .. "/src", dir .. "/dst"))
      assert.is_true(how == "copy" or how == "reflink")
      assert.equal("some bytes\n", helpers.read(dir .. "/dst"))
      assert.equal(tonumber("751", 8), assert(fs.stat(dir .. "/dst")).mode)
    end)

    it("refuses an existing dst unless overwrite is set", function()
      helpers.write(dir .. "/src", "new")
      helpers.write(dir .. "/dst", "old")
      assert.same({ nil, dir .. "/dst: File exists", "EEXISTS" },
        { fs.copy_file(dir .. "/src", dir .. "/dst") })
      assert.equal("old", helpers.read(dir .. "/dst"))
      assert(fs.copy_file(dir .. "/src", dir .. "/dst", { overwrite = true }))
      assert.equal("new", helpers.read(dir .. "/dst"))
    end)

    it("refuses what is not a regular file, a FIFO without waiting for a writer", function()
      sh("mkdir d && mkfifo fifo", dir)
      local fds = open_fds()
      assert.same({ nil, dir .. "/d: not a regular file", "EINVALID" },
        { fs.copy_file(dir .. "/d", dir .. "/x") })
      assert.same({ nil, dir .. "/fifo: not a regular file", "EINVALID" },
        { fs.copy_file(dir .. "/fifo", dir .. "/x") })
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" },
        { fs.copy_file(dir .. "/nope", dir .. "/x") })
      helpers.write(dir .. "/src", "x")
      assert.same({ nil, dir .. "/no/x: No such file or directory", "ENOTFOUND" },
        { fs.copy_file(dir .. "/src", dir .. "/no/x") })
      assert.is_false(helpers.exists(dir .. "/x"))
      assert.equal(fds, open_fds())
    end)

    -- A write that fails half-way (here: past the file size limit, RLIMIT_FSIZE) leaves neither
    -- dst nor an open descriptor behind.
    it("closes both files and removes dst when the copy fails", function()
      local script = dir .. "/copy.lua"
      helpers.write(script, ([[
        local fs = require("gt.fs")
        local d = %q
        local before = #assert(fs.dir("/proc/self/fd"))
        print(select(3, fs.copy_file(d .. "/big", d .. "/dst")))
        print(select(3, fs.copy_file(d .. "/big", d .. "/dst", { overwrite = true })))
        print(#assert(fs.dir("/proc/self/fd")) - before, fs.lstat(d .. "/dst") == nil)
      ]]):format(dir))
      sh("head -c 1048576 /dev/zero > big", dir)
      local r = assert(proc.run({ argv = { "/bin/sh", "-c",
        'ulimit -f 64 && trap "" XFSZ && exec "$0" -l "$1"', gt.executable, script } }))
      assert.equal(0, r.code, r.stderr)
      assert.equal("EIO\nEIO\n0\ttrue\n", r.stdout)
    end)
  end)

  describe("read_file", function()
    it("reads a regular file whole, after links", function()
      local data = ("0123456789"):rep(10000)
      helpers.write(dir .. "/f", data)
      sh("ln -s f link", dir)
      assert.equal(data, fs.read_file(dir .. "/link"))
    end)

    it("refuses what is not a regular file and what is larger than max_bytes", function()
      sh("mkdir d && mkfifo fifo", dir)
      helpers.write(dir .. "/f", "12345")
      local fds = open_fds()
      assert.same({ nil, dir .. "/d: not a regular file (directory)", "ENOTREG" }, { fs.read_file(dir .. "/d") })
      assert.same({ nil, dir .. "/fifo: not a regular file (other)", "ENOTREG" }, { fs.read_file(dir .. "/fifo") })
      assert.same({ nil, "/dev/null: not a regular file (other)", "ENOTREG" }, { fs.read_file("/dev/null") })
      assert.same({ nil, dir .. "/f: larger than 4 bytes", "ETOOBIG" },
        { fs.read_file(dir .. "/f", { max_bytes = 4 }) })
      assert.equal("12345", fs.read_file(dir .. "/f", { max_bytes = 5 }))
      assert.same({ nil, dir .. "/nope: No such file or directory", "ENOTFOUND" }, { fs.read_file(dir .. "/nope") })
      assert.equal(fds, open_fds())
    end)
  end)

  describe("rename", function()
    it("renames, and fails with EXDEV across file systems", function()
      helpers.write(dir .. "/a", "x")
      assert.is_true(fs.rename(dir .. "/a", dir .. "/b"))
      assert.equal("x", helpers.read(dir .. "/b"))
      assert.same({ nil, dir .. "/a: No such file or directory", "ENOTFOUND" }, { fs.rename(dir .. "/a", dir .. "/c") })
      local shm = fs.stat("/dev/shm")
      if not shm or shm.type ~= "directory" or not io.open("/dev/shm/.gt-test-probe", "w") then
        pending("no writable /dev/shm")
        return
      end
      os.remove("/dev/shm/.gt-test-probe")
      local ok, err, code = fs.rename(dir .. "/b", "/dev/shm/gt-test-rename-" .. require("gt.sys").pid())
      if ok then
        os.remove("/dev/shm/gt-test-rename-" .. require("gt.sys").pid())
        pending("/dev/shm is on the same file system")
        return
      end
      assert.same({ dir .. "/b: Invalid cross-device link", "EXDEV" }, { err, code })
    end)
  end)

  it("raises on misuse", function()
    assert.error_matches(function() fs.stat() end, "bad argument #1 to 'stat' %(string expected, got no value%)")
    assert.error_matches(function() fs.remove_tree({}) end, "bad argument #1 to 'remove_tree'")
    assert.error_matches(function() fs.mkdir(dir .. "/m", "rwx") end, "bad argument #2 to 'mkdir'")
  end)
end)
