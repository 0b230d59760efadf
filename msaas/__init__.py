"""Code shared by the MSaaS REST frontend and workers: config, jobs, queue and storage."""
