/** Version of this package; a unit test keeps it equal to package.json's. */
export const VERSION = '0.1.0';
/** Package name, as recorded in manifests. */
export const PACKAGE_NAME = 'duplicati-kit';
