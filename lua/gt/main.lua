-- placeholder main
return function(...)
  local argv = { ... }
  if argv[1] == "-l" then
    local file = argv[2]
    _G.arg = { [0] = file, [-1] = gt.executable, table.unpack(argv, 3) }
    local chunk = assert(loadfile(file, "t"))
    chunk(table.unpack(argv, 3))
    return 0
  end
  print(gt.version)
  return 0
end
