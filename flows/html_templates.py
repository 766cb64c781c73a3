"""Jinja2 templates for HTML (the ready email, the recipient pages): a package's `templates/` folder,
every value HTML-escaped, an unknown name an error rather than an empty string."""

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def html_templates(package: str) -> Environment:
    return Environment(loader=PackageLoader(package, "templates"), autoescape=True, undefined=StrictUndefined)
