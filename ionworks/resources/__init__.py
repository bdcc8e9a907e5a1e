"""Resource classes of the async client, one module per resource group."""
