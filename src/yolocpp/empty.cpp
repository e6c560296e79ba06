// Placeholder source for modules that have no .cpp of their own yet.
