/**
 * `@ops-control-room/spec-kit-handler`: the `spec_kit_generate` handler plugin (four Spec Kit
 * documents committed with real git and uploaded as artifacts), its pluggable generator, and the
 * bundle checks behind the `spec-kit` CLI.
 */

export type { BundleReport, CheckReport } from './checkSpecs'
export { checkSpecs, scaffoldBundle } from './checkSpecs'
export { defaultGenerator } from './defaultGenerator'
export type { SpecDocument, SpecKitParamsInput } from './params'
export { BranchName, FeatureSlug, SPEC_DOCUMENTS, SPEC_FILES, SpecKitParams } from './params'
export { publicRemote, SPEC_KIT_KIND, specKitHandler, specKitHandler as default } from './specKitHandler'
export { specKitTemplate } from './specKitTemplate'
export type {
  GitIdentity,
  OpenPullRequest,
  SpecKitDocuments,
  SpecKitFileResult,
  SpecKitGenerator,
  SpecKitGeneratorInput,
  SpecKitHandlerOptions,
  SpecKitRepository,
  SpecKitResult,
} from './types'
