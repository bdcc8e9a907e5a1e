"""The HTTP layer: the aiohttp application, body reading and errors, listing, and one module per resource group (handlers parse, call the store or a service, serialise)."""
