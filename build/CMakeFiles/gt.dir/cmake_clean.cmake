file(REMOVE_RECURSE
  "CMakeFiles/gt.dir/gt_modules.c.o"
  "CMakeFiles/gt.dir/gt_modules.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_aux.c.o"
  "CMakeFiles/gt.dir/src/lgt_aux.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_fs.c.o"
  "CMakeFiles/gt.dir/src/lgt_fs.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_ledger.c.o"
  "CMakeFiles/gt.dir/src/lgt_ledger.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_lock.c.o"
  "CMakeFiles/gt.dir/src/lgt_lock.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_proc.c.o"
  "CMakeFiles/gt.dir/src/lgt_proc.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_sys.c.o"
  "CMakeFiles/gt.dir/src/lgt_sys.c.o.d"
  "CMakeFiles/gt.dir/src/lgt_worktree.c.o"
  "CMakeFiles/gt.dir/src/lgt_worktree.c.o.d"
  "CMakeFiles/gt.dir/src/main.c.o"
  "CMakeFiles/gt.dir/src/main.c.o.d"
  "CMakeFiles/gt.dir/src/runtime.c.o"
  "CMakeFiles/gt.dir/src/runtime.c.o.d"
  "gt"
  "gt.pdb"
  "gt_modules.c"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/gt.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
