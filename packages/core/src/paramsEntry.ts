/**
 * `@ops-control-room/core/params`: checking params against a template's JSON Schema, in linear time
 * (patterns on RE2). An entry of its own so a browser app can load it when a form is submitted
 * (`await import('@ops-control-room/core/params')`) instead of with the page: RE2 and the JSON Schema
 * validator are most of what a form would add to the first load.
 */
export { validateTemplateParams } from './paramsSchema'
