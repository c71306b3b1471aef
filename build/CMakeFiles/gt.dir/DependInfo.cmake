
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/build/gt_modules.c" "CMakeFiles/gt.dir/gt_modules.c.o" "gcc" "CMakeFiles/gt.dir/gt_modules.c.o.d"
  "/work/main/src/lgt_aux.c" "CMakeFiles/gt.dir/src/lgt_aux.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_aux.c.o.d"
  "/work/main/src/lgt_fs.c" "CMakeFiles/gt.dir/src/lgt_fs.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_fs.c.o.d"
  "/work/main/src/lgt_ledger.c" "CMakeFiles/gt.dir/src/lgt_ledger.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_ledger.c.o.d"
  "/work/main/src/lgt_lock.c" "CMakeFiles/gt.dir/src/lgt_lock.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_lock.c.o.d"
  "/work/main/src/lgt_proc.c" "CMakeFiles/gt.dir/src/lgt_proc.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_proc.c.o.d"
  "/work/main/src/lgt_sys.c" "CMakeFiles/gt.dir/src/lgt_sys.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_sys.c.o.d"
  "/work/main/src/lgt_worktree.c" "CMakeFiles/gt.dir/src/lgt_worktree.c.o" "gcc" "CMakeFiles/gt.dir/src/lgt_worktree.c.o.d"
  "/work/main/src/main.c" "CMakeFiles/gt.dir/src/main.c.o" "gcc" "CMakeFiles/gt.dir/src/main.c.o.d"
  "/work/main/src/runtime.c" "CMakeFiles/gt.dir/src/runtime.c.o" "gcc" "CMakeFiles/gt.dir/src/runtime.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
