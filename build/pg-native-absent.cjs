'use strict';
// pg-native stands absent in the CLI bundle: pg requires it only from its `native` getter, which the
// CLI never reads, and treats MODULE_NOT_FOUND as "not installed".
const e = new Error("Cannot find module 'pg-native'");
e.code = 'MODULE_NOT_FOUND';
throw e;
