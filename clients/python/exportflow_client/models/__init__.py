"""The API's request and response bodies as the client sends and reads them, one module per area."""
