"""crm_sync: keeps a Salesforce org and the platform database in sync, both ways, with Dagster."""
