export { restoreInputFor } from '../../../helpers/restore-input.js';
