"""Server-rendered HTML pages for people without an account, mounted beside the JSON API."""
