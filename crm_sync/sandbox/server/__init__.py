"""The sandbox HTTPS server: a Starlette app speaking Salesforce's REST, Bulk API 2.0 and login protocols."""
