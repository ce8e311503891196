// eslint's configuration for the book's explorers (book/explorer/*-*.js: plain browser scripts, one IIFE
// each, no modules). Run by scripts/lint_js.sh (`make lint`); eslint itself comes from .vendor/eslint.
export default [
  // The exported weights (decoder_z2.js, generator_gan.js, flow_mnist.js, ...) are generated, not linted.
  {ignores: ["book/explorer/*_*.js"]},
  {
    files: ["book/explorer/*-*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: {
        window: "readonly", document: "readonly", performance: "readonly", requestAnimationFrame: "readonly",
        setTimeout: "readonly", atob: "readonly", console: "readonly"
      }
    },
    linterOptions: {reportUnusedDisableDirectives: "error"},
    rules: {
      "no-undef": "error",
      "no-unused-vars": ["error", {args: "after-used"}],
      "no-redeclare": "error",
      "no-shadow": "error",
      "no-dupe-keys": "error",
      "no-unreachable": "error",
      "no-implicit-globals": "error",
      "no-use-before-define": ["error", {functions: false, variables: true}],
      "no-loop-func": "error",
      eqeqeq: "error",
      strict: ["error", "function"],
      "max-lines-per-function": ["error", {max: 60, skipBlankLines: true, skipComments: true, IIFEs: false}],
      "max-depth": ["error", 4],
      complexity: ["error", 12]
    }
  }
];
