/** The stylesheet: `import "@ops-control-room/react/styles.css"` in a bundler that handles CSS. */
export {}
