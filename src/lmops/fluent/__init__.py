"""The fluent SDK behind `import lmops`: module-level functions over the active face."""
