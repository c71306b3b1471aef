-- The generated repository of the benchmarks: the shape of the measured baseline (docs/design.md
-- §7), 20x10x10 folders of 10 files of random words (`megabytes` in all), 6 commits, one pack;
-- the same repository every time. Loaded with dofile by bench/spawn.lua and bench/table.lua
-- (as bench/lib.lua, what the benchmark scripts share, is by all of them):
--   generate(dir, megabytes, run)   run(argv): runs git, raising on failure
local fs = require("gt.fs")

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

return function(dir, megabytes, run)
  local rnd = 42
  local function random(n) -- a small LCG: the same repository every time
    rnd = (rnd * 1103515245 + 12345) % 2147483648
    return rnd % n + 1
  end
  local vocab = {}
  for i = 1, 6000 do
    local w = {}
    for j = 1, random(9) + 1 do w[j] = string.char(96 + random(26)) end
    vocab[i] = table.concat(w)
  end
  local exts = { ".c", ".h", ".go", ".py", ".md", ".txt", ".json", ".lua" }
  local per_file = megabytes * 1024 * 1024 // 20000
  local i = 0
  for a = 0, 19 do
    for b = 0, 9 do
      for c = 0, 9 do
        local d = ("%s/mod%02d/pkg%d/sub%d"):format(dir, a, b, c)
        assert(fs.mkdir_p(d))
        for f = 0, 9 do
          local size = per_file // 2 + random(per_file)
          local out, n = { ("// file %d/%d/%d/%d id %d\n"):format(a, b, c, f, i) }, 0
          while n < size do
            local words = {}
            for k = 1, random(10) + 2 do words[k] = vocab[random(#vocab)] end
            local line = string.rep(" ", 4 * (random(4) - 1)) .. table.concat(words, " ") .. "\n"
            out[#out + 1] = line
            n = n + #line
          end
          write(("%s/file%d%s"):format(d, f, exts[random(#exts)]), table.concat(out))
          i = i + 1
        end
      end
    end
  end
  run({ "git", "init", "-q", "-b", "main", dir })
  run({ "git", "-C", dir, "config", "gc.auto", "0" })
  run({ "git", "-C", dir, "add", "-A" })
  run({ "git", "-C", dir, "commit", "-q", "-m", "initial" })
  for k = 1, 5 do
    for _ = 1, 10 do
      local path = ("%s/mod%02d/pkg%d/sub%d"):format(dir, random(20) - 1, random(10) - 1, random(10) - 1)
      local names = fs.dir(path)
      local f = assert(io.open(path .. "/" .. names[random(#names)], "ab"))
      f:write("change ", k, "\n")
      f:close()
    end
    run({ "git", "-C", dir, "commit", "-q", "-am", "change " .. k })
  end
  run({ "git", "-C", dir, "repack", "-q", "-adf" })
end
