"""ML platform as code: AWS CDK constructs and stacks for the SageMaker ML lifecycle."""
