/*
 * lineprobe's JVMTI agent: the JVM's compiled methods with their source lines, inlined
 * methods included, written as a jitdump (perf's format, tools/perf/Documentation/
 * jitdump-specification.txt) that lineprobe's resolver reads (symbolization/jitdump.py).
 *
 * Loaded at launch (-agentpath:lineprobe_jvmti.so) or into a running JVM (jcmd PID
 * JVMTI.agent_load lineprobe_jvmti.so), it writes /tmp/jit-PID.dump (or the absolute path
 * given as its option; jcmd cuts an option at "=", so the option is the path alone). Loaded
 * again with the option "stop", it closes the file and stops writing. Loaded at launch, it writes
 * for the JVM's whole life: an attach (lineprobe's, by PID) finds that dump complete and leaves
 * it as it is, and its "stop" stops nothing, so a perf record of the same JVM reads the file
 * whole. It writes, for every method
 * the JIT compiles (and, on attach, every method compiled already: GenerateEvents):
 *
 *   JIT_CODE_DEBUG_INFO  one entry per range of instructions and per frame of its inline
 *                        chain, innermost first, all at the range's start address; each
 *                        entry's name is "SOURCE<TAB>METHOD" (the source file by package
 *                        path, slowy/App.java, and the method, slowy.App.isDivisible): the
 *                        tab is lineprobe's, so that inlined frames keep their names
 *   JIT_CODE_LOAD        the code's range and name (slowy.App.isPrime), and its bytes; also
 *                        for the code the JVM generates for itself (DynamicCodeGenerated: the
 *                        interpreter, "Stub:Interpreter", stubs and adapters)
 *
 * HotSpot describes a compiled method's pcs by PcDescs, each at the end of the instructions
 * it describes (a call's return address; with -XX:+DebugNonSafepoints, every instruction):
 * the range of a PcDesc starts where the previous one ended.
 *
 * Interpreted methods have no code of their own: a sample in the interpreter names a method
 * only through the interpreter's frame, which holds the method's Method* and its bytecode
 * pointer. Beside the dump (jit-PID.methods for jit-PID.dump) the agent writes every loaded
 * method's Method* (what a jmethodID points to in HotSpot), where its bytecodes start (the
 * ConstMethod's end, by the JVM's own VMStructs table), its length, source, name and line
 * table, for every class loaded at start or attach and every class prepared since:
 *
 *   lineprobe-jvm-methods 1 method_slot=-24 bcp_slot=-64 bcp_register=r13
 *   METHOD*<TAB>BYTECODES<TAB>LENGTH<TAB>SOURCE<TAB>METHOD<TAB>BCI:LINE,BCI:LINE...
 *
 * The header says where an x86-64 interpreter frame keeps them, from its frame pointer
 * (frame_x86.hpp; the bytecode pointer moved one slot down in JDK 9, for the mirror), and that
 * the running frame's bytecode pointer is in r13 (rbcp). BYTECODES is 0 where VMStructs
 * could not be read: such methods are named without a line.
 *
 * The file is opened as the JVM's user, never through a symbolic link, and only if it is
 * (still) that user's; every write goes through one raw monitor (compiler threads race). Its
 * first page is mapped executable while it is written, as perf's own JVMTI agent does: that
 * mapping is how `perf inject --jit` finds a jitdump in a perf.data, so perf can read the same
 * file as lineprobe (the reference its Java lines are compared with).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jvmti.h>
#include <jvmticmlr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define JIT_CODE_LOAD 0
#define JIT_CODE_DEBUG_INFO 2
#define MAX_FRAMES 64
#define MAX_NAME 1024

static jvmtiEnv *jvmti;
static jrawMonitorID lock;
static FILE *out;
static FILE *methods_out; /* the interpreter's methods (see above) */
static int loaded_at_launch; /* -agentpath: writing since the JVM started, until it ends */
static long constmethod_offset = -1, constmethod_size = -1; /* from VMStructs; -1: unknown */
static int bcp_slot = -8;                                   /* words below the frame pointer */
static void *marker; /* the first page, mapped for perf (see above) */
static uint64_t code_index;

static uint64_t timestamp(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static void put(const void *data, size_t size) { fwrite(data, 1, size, out); }
static void put_u32(uint32_t value) { put(&value, 4); }
static void put_u64(uint64_t value) { put(&value, 8); }

/* PATH created or emptied for writing, never through a symbolic link, and only if it is this
 * user's regular file (-1: not, said on stderr). */
static int open_own(const char *path) {
  /* Read as well as written: the dump's marker mapping needs a readable descriptor. */
  /* Emptied only once it is known to be this user's own regular file, with no other name: a
   * hard link planted in /tmp must not get another file of the user's emptied. */
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  struct stat info;
  if (fd < 0) {
    fprintf(stderr, "lineprobe JVMTI agent: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &info) != 0 || info.st_uid != geteuid() || !S_ISREG(info.st_mode) || info.st_nlink != 1) {
    fprintf(stderr, "lineprobe JVMTI agent: %s is not this user's regular file of one name: not written\n", path);
    close(fd);
    return -1;
  }
  if (ftruncate(fd, 0) != 0) {
    fprintf(stderr, "lineprobe JVMTI agent: cannot empty %s: %s\n", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static int open_dump(const char *path) {
  int fd = open_own(path);
  if (fd < 0) return -1;
  long page = sysconf(_SC_PAGESIZE);
  marker = mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  if (marker == MAP_FAILED) marker = NULL; /* lineprobe does not need it; perf inject would */
  out = fdopen(fd, "w");
  if (out == NULL) {
    close(fd);
    return -1;
  }
  put_u32(0x4A695444); /* "JiTD" */
  put_u32(1);          /* version */
  put_u32(40);         /* header size */
  put_u32(62);         /* EM_X86_64 */
  put_u32(0);
  put_u32((uint32_t)getpid());
  put_u64(timestamp());
  put_u64(0);
  fflush(out);
  return 0;
}

/* "slowy/App.java" from the class signature "Lslowy/App;" and the SourceFile attribute. */
static void source_of(jclass klass, char *source, size_t size) {
  char *signature = NULL, *file = NULL;
  source[0] = '\0';
  if ((*jvmti)->GetClassSignature(jvmti, klass, &signature, NULL) != JVMTI_ERROR_NONE) return;
  const char *name = signature[0] == 'L' ? signature + 1 : signature;
  const char *slash = strrchr(name, '/');
  int package = slash ? (int)(slash - name + 1) : 0;
  if ((*jvmti)->GetSourceFileName(jvmti, klass, &file) == JVMTI_ERROR_NONE) {
    snprintf(source, size, "%.*s%s", package, name, file);
    (*jvmti)->Deallocate(jvmti, (unsigned char *)file);
  } else {
    const char *end = strchr(name, ';');
    const char *dollar = strchr(name, '$');
    int length = (int)((dollar && (!end || dollar < end) ? dollar : end ? end : name + strlen(name)) - name);
    snprintf(source, size, "%.*s.java", length, name);
  }
  (*jvmti)->Deallocate(jvmti, (unsigned char *)signature);
}

/* "slowy.App.isDivisible" */
static void method_name(jmethodID method, char *name, size_t size) {
  jclass klass;
  char *signature = NULL, *method_simple = NULL;
  snprintf(name, size, "[unknown method]");
  if ((*jvmti)->GetMethodDeclaringClass(jvmti, method, &klass) != JVMTI_ERROR_NONE) return;
  if ((*jvmti)->GetClassSignature(jvmti, klass, &signature, NULL) == JVMTI_ERROR_NONE &&
      (*jvmti)->GetMethodName(jvmti, method, &method_simple, NULL, NULL) == JVMTI_ERROR_NONE) {
    const char *class_name = signature[0] == 'L' ? signature + 1 : signature;
    size_t length = strcspn(class_name, ";");
    snprintf(name, size, "%.*s.%s", (int)length, class_name, method_simple);
    for (char *c = name; *c && c < name + length; c++) {
      if (*c == '/') *c = '.';
    }
  }
  if (signature) (*jvmti)->Deallocate(jvmti, (unsigned char *)signature);
  if (method_simple) (*jvmti)->Deallocate(jvmti, (unsigned char *)method_simple);
}

/* The source line of bytecode index ``bci`` of ``method`` (0: none known). */
static jint line_of(jmethodID method, jint bci) {
  jint count = 0, line = 0;
  jvmtiLineNumberEntry *table = NULL;
  if ((*jvmti)->GetLineNumberTable(jvmti, method, &count, &table) != JVMTI_ERROR_NONE) return 0;
  jlocation best = -1;
  for (jint i = 0; i < count; i++) {
    if (table[i].start_location <= bci && table[i].start_location > best) {
      best = table[i].start_location;
      line = table[i].line_number;
    }
  }
  (*jvmti)->Deallocate(jvmti, (unsigned char *)table);
  return line;
}

static size_t entry_name(jmethodID method, char *buffer, size_t size) {
  jclass klass;
  char source[MAX_NAME], name[MAX_NAME];
  source[0] = '\0';
  if ((*jvmti)->GetMethodDeclaringClass(jvmti, method, &klass) == JVMTI_ERROR_NONE) source_of(klass, source, sizeof source);
  method_name(method, name, sizeof name);
  int written = snprintf(buffer, size, "%s\t%s", source, name);
  return written < 0 ? 0 : (size_t)written >= size ? size - 1 : (size_t)written;
}

/* HotSpot's VMStructs, the table its serviceability agent reads: the offset of
 * Method::_constMethod and sizeof(ConstMethod), whose end is where a method's bytecodes start
 * (ConstMethod::code_base). Left -1 where the JVM does not export them. */
static void read_vmstructs(void) {
  char **structs = dlsym(RTLD_DEFAULT, "gHotSpotVMStructs");
  uint64_t *type_at = dlsym(RTLD_DEFAULT, "gHotSpotVMStructEntryTypeNameOffset");
  uint64_t *field_at = dlsym(RTLD_DEFAULT, "gHotSpotVMStructEntryFieldNameOffset");
  uint64_t *offset_at = dlsym(RTLD_DEFAULT, "gHotSpotVMStructEntryOffsetOffset");
  uint64_t *stride = dlsym(RTLD_DEFAULT, "gHotSpotVMStructEntryArrayStride");
  if (structs && *structs && type_at && field_at && offset_at && stride && *stride) {
    for (char *entry = *structs;; entry += *stride) {
      const char *type = *(const char **)(entry + *type_at);
      const char *field = *(const char **)(entry + *field_at);
      if (type == NULL) break;
      if (field && strcmp(type, "Method") == 0 && strcmp(field, "_constMethod") == 0) {
        constmethod_offset = (long)*(uint64_t *)(entry + *offset_at);
      }
    }
  }
  char **types = dlsym(RTLD_DEFAULT, "gHotSpotVMTypes");
  uint64_t *name_at = dlsym(RTLD_DEFAULT, "gHotSpotVMTypeEntryTypeNameOffset");
  uint64_t *size_at = dlsym(RTLD_DEFAULT, "gHotSpotVMTypeEntrySizeOffset");
  uint64_t *type_stride = dlsym(RTLD_DEFAULT, "gHotSpotVMTypeEntryArrayStride");
  if (types && *types && name_at && size_at && type_stride && *type_stride) {
    for (char *entry = *types;; entry += *type_stride) {
      const char *type = *(const char **)(entry + *name_at);
      if (type == NULL) break;
      if (strcmp(type, "ConstMethod") == 0) constmethod_size = (long)*(uint64_t *)(entry + *size_at);
    }
  }
}

/* A field of the methods file: tabs and line ends would end it early. */
static void put_field(const char *text) {
  for (const char *c = text; *c; c++) fputc(*c == '\t' || *c == '\n' || *c == '\r' ? '?' : *c, methods_out);
  fputc('\t', methods_out);
}

/* One line of the methods file (the lock held). */
static void write_method(jmethodID method, const char *source) {
  void *pointer = *(void **)method; /* HotSpot's jmethodID is a Method** */
  uintptr_t codes = 0;
  if (pointer != NULL && constmethod_offset >= 0 && constmethod_size > 0) {
    char *constmethod = *(char **)((char *)pointer + constmethod_offset);
    if (constmethod != NULL) codes = (uintptr_t)constmethod + (uintptr_t)constmethod_size;
  }
  jlocation first = -1, last = -1;
  if ((*jvmti)->GetMethodLocation(jvmti, method, &first, &last) != JVMTI_ERROR_NONE) last = -1;
  char name[MAX_NAME];
  method_name(method, name, sizeof name);
  fprintf(methods_out, "%lx\t%lx\t%ld\t", (unsigned long)(uintptr_t)pointer, (unsigned long)codes,
          last >= 0 ? (long)last + 1 : 0L);
  put_field(source);
  put_field(name);
  jint count = 0;
  jvmtiLineNumberEntry *table = NULL;
  if ((*jvmti)->GetLineNumberTable(jvmti, method, &count, &table) == JVMTI_ERROR_NONE) {
    for (jint i = 0; i < count; i++) {
      fprintf(methods_out, "%s%ld:%d", i ? "," : "", (long)table[i].start_location, (int)table[i].line_number);
    }
    (*jvmti)->Deallocate(jvmti, (unsigned char *)table);
  }
  fputc('\n', methods_out);
}

/* Every method of a prepared class (the lock held; a class not prepared yet is skipped: its
 * ClassPrepare event comes later). */
static void write_class(jclass klass) {
  jint count = 0;
  jmethodID *methods = NULL;
  if ((*jvmti)->GetClassMethods(jvmti, klass, &count, &methods) != JVMTI_ERROR_NONE) return;
  char source[MAX_NAME];
  source_of(klass, source, sizeof source);
  for (jint i = 0; i < count; i++) write_method(methods[i], source);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)methods);
}

static void write_loaded_classes(void) {
  jint count = 0;
  jclass *classes = NULL;
  if ((*jvmti)->GetLoadedClasses(jvmti, &count, &classes) != JVMTI_ERROR_NONE) return;
  (*jvmti)->RawMonitorEnter(jvmti, lock);
  if (methods_out != NULL) {
    for (jint i = 0; i < count; i++) write_class(classes[i]);
    fflush(methods_out);
  }
  (*jvmti)->RawMonitorExit(jvmti, lock);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)classes);
}

static void JNICALL on_class_prepare(jvmtiEnv *env __attribute__((unused)), JNIEnv *jni __attribute__((unused)),
                                     jthread thread __attribute__((unused)), jclass klass) {
  (*jvmti)->RawMonitorEnter(jvmti, lock);
  if (methods_out != NULL) {
    write_class(klass);
    fflush(methods_out); /* read while the JVM runs on */
  }
  (*jvmti)->RawMonitorExit(jvmti, lock);
}

static void JNICALL on_vm_init(jvmtiEnv *env __attribute__((unused)), JNIEnv *jni __attribute__((unused)),
                               jthread thread __attribute__((unused))) {
  write_loaded_classes(); /* those loaded before the live phase, when classes can be listed */
}

/* The methods file, beside the dump (the lock held). */
static void open_methods(const char *dump_path) {
#if !defined(__x86_64__)
  (void)dump_path; /* the frame slots below are x86-64 HotSpot's */
  return;
#endif
  char path[4200];
  size_t length = strlen(dump_path);
  if (length > 5 && strcmp(dump_path + length - 5, ".dump") == 0) length -= 5;
  snprintf(path, sizeof path, "%.*s.methods", (int)length, dump_path);
  int fd = open_own(path);
  if (fd < 0) return;
  methods_out = fdopen(fd, "w");
  if (methods_out == NULL) {
    close(fd);
    return;
  }
  fprintf(methods_out, "lineprobe-jvm-methods 1 method_slot=-24 bcp_slot=%d bcp_register=r13\n", bcp_slot * 8);
  fflush(methods_out);
}

/* A JIT_CODE_LOAD record: the code's range, its name and its bytes (the lock held). */
static void put_code_load(const char *name, const void *code_addr, jint code_size) {
  size_t length = strlen(name);
  put_u32(JIT_CODE_LOAD);
  put_u32((uint32_t)(16 + 40 + length + 1 + (uint64_t)code_size));
  put_u64(timestamp());
  put_u32((uint32_t)getpid());
  put_u32((uint32_t)syscall(SYS_gettid));
  put_u64((uint64_t)(uintptr_t)code_addr);
  put_u64((uint64_t)(uintptr_t)code_addr);
  put_u64((uint64_t)code_size);
  put_u64(code_index++);
  put(name, length + 1);
  put(code_addr, (size_t)code_size);
}

static const jvmtiCompiledMethodLoadInlineRecord *inline_record(const void *compile_info) {
  for (const jvmtiCompiledMethodLoadRecordHeader *h = compile_info; h != NULL; h = h->next) {
    if (h->kind == JVMTI_CMLR_INLINE_INFO) return (const jvmtiCompiledMethodLoadInlineRecord *)h;
  }
  return NULL;
}

static void JNICALL on_compiled(jvmtiEnv *env __attribute__((unused)), jmethodID method, jint code_size, const void *code_addr,
                                jint map_length, const jvmtiAddrLocationMap *map, const void *compile_info) {
  const jvmtiCompiledMethodLoadInlineRecord *inlined = inline_record(compile_info);
  char name[MAX_NAME];
  method_name(method, name, sizeof name);
  (*jvmti)->RawMonitorEnter(jvmti, lock);
  if (out == NULL) {
    (*jvmti)->RawMonitorExit(jvmti, lock);
    return;
  }
  /* The debug record: sized first, then written. */
  static char names[MAX_FRAMES][MAX_NAME];
  jint ranges = inlined ? inlined->numpcs : map_length;
  uint64_t size = 16 + 16, entries = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      put_u32(JIT_CODE_DEBUG_INFO);
      put_u32((uint32_t)size);
      put_u64(timestamp());
      put_u64((uint64_t)(uintptr_t)code_addr);
      put_u64(entries);
    }
    uintptr_t start = (uintptr_t)code_addr;
    for (jint i = 0; i < ranges; i++) {
      jint frames = inlined ? inlined->pcinfo[i].numstackframes : 1;
      if (frames > MAX_FRAMES) frames = MAX_FRAMES;
      uintptr_t end = inlined ? (uintptr_t)inlined->pcinfo[i].pc : (uintptr_t)map[i].start_address;
      /* A PcDesc ends its instructions; a location map's entry starts them. */
      uintptr_t at = inlined ? start : end;
      for (jint f = 0; f < frames; f++) {
        jmethodID frame = inlined ? inlined->pcinfo[i].methods[f] : method;
        jint bci = inlined ? inlined->pcinfo[i].bcis[f] : (jint)map[i].location;
        size_t length = entry_name(frame, names[f], sizeof names[f]);
        if (pass == 0) {
          size += 16 + length + 1;
          entries++;
        } else {
          put_u64((uint64_t)at);
          put_u32((uint32_t)line_of(frame, bci));
          put_u32(0);
          put(names[f], length + 1);
        }
      }
      if (inlined) start = end;
    }
  }
  put_code_load(name, code_addr, code_size);
  fflush(out);
  (*jvmti)->RawMonitorExit(jvmti, lock);
}

/* Code the JVM generates for itself: the interpreter ("Stub:Interpreter", which runs every
 * interpreted method: symbolization/jvm_methods.py names them), stubs and adapters. "Stub:", as
 * V8 names its own: the runtime's code, never the program's (symbolization/user_code.py). */
static void JNICALL on_dynamic_code(jvmtiEnv *env __attribute__((unused)), const char *name, const void *address,
                                    jint length) {
  (*jvmti)->RawMonitorEnter(jvmti, lock);
  if (out != NULL && name != NULL && length > 0) {
    char stub[MAX_NAME];
    snprintf(stub, sizeof stub, "Stub:%s", name);
    put_code_load(stub, address, length);
    fflush(out);
  }
  (*jvmti)->RawMonitorExit(jvmti, lock);
}

static jint start(JavaVM *vm, char *options, int attached) {
  char path[4096];
  const char *given = options && options[0] == '/' ? options : NULL;
  if (given) {
    snprintf(path, sizeof path, "%s", given);
  } else {
    snprintf(path, sizeof path, "/tmp/jit-%d.dump", (int)getpid());
  }
  if (attached && loaded_at_launch) return JNI_OK; /* the dump has every method already */
  if (jvmti == NULL) {
    if ((*vm)->GetEnv(vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK) return JNI_ERR;
    jvmtiCapabilities wanted;
    memset(&wanted, 0, sizeof wanted);
    wanted.can_generate_compiled_method_load_events = 1;
    wanted.can_get_source_file_name = 1;
    wanted.can_get_line_numbers = 1;
    if ((*jvmti)->AddCapabilities(jvmti, &wanted) != JVMTI_ERROR_NONE) return JNI_ERR;
    jvmtiEventCallbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.CompiledMethodLoad = on_compiled;
    callbacks.ClassPrepare = on_class_prepare;
    callbacks.DynamicCodeGenerated = on_dynamic_code;
    callbacks.VMInit = on_vm_init;
    (*jvmti)->SetEventCallbacks(jvmti, &callbacks, sizeof callbacks);
    (*jvmti)->CreateRawMonitor(jvmti, "lineprobe jitdump", &lock);
    read_vmstructs();
    char *version = NULL;
    if ((*jvmti)->GetSystemProperty(jvmti, "java.vm.specification.version", &version) == JVMTI_ERROR_NONE) {
      if (strncmp(version, "1.", 2) == 0) bcp_slot = -7; /* JDK 8: no mirror slot above it */
      (*jvmti)->Deallocate(jvmti, (unsigned char *)version);
    }
  }
  (*jvmti)->RawMonitorEnter(jvmti, lock);
  if (out != NULL) fclose(out);
  out = NULL;
  if (methods_out != NULL) fclose(methods_out);
  methods_out = NULL;
  if (marker != NULL) munmap(marker, (size_t)sysconf(_SC_PAGESIZE));
  marker = NULL;
  if (options && strcmp(options, "stop") == 0) {
    (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_DISABLE, JVMTI_EVENT_COMPILED_METHOD_LOAD, NULL);
    (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_DISABLE, JVMTI_EVENT_CLASS_PREPARE, NULL);
    (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_DISABLE, JVMTI_EVENT_DYNAMIC_CODE_GENERATED, NULL);
    (*jvmti)->RawMonitorExit(jvmti, lock);
    return JNI_OK;
  }
  int opened = open_dump(path);
  if (opened == 0) open_methods(path); /* without it, interpreted frames stay unnamed */
  (*jvmti)->RawMonitorExit(jvmti, lock);
  if (opened != 0) return JNI_ERR;
  (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_CLASS_PREPARE, NULL);
  (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_COMPILED_METHOD_LOAD, NULL);
  (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_DYNAMIC_CODE_GENERATED, NULL);
  if (attached) {
    /* What was loaded, generated and compiled before the agent came: all of it, now (a new file
     * each time). */
    write_loaded_classes();
    (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_DYNAMIC_CODE_GENERATED);
    (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD);
  } else {
    loaded_at_launch = 1;
    (*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL);
  }
  return JNI_OK;
}

JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved) {
  (void)reserved;
  return start(vm, options, 0);
}

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved) {
  (void)reserved;
  return start(vm, options, 1);
}
