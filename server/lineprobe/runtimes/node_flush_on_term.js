// Preloaded (node -r) into a node lineprobe launches: SIGTERM, which ends a launched command when
// its trace window closes, exits through process.exit, so that V8's jitdump (written through a
// 2 MB stdio buffer) is flushed: the code compiled last, often the hottest, is in it.
"use strict";
process.on("SIGTERM", () => process.exit(143));
