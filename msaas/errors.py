"""The exceptions MSaaS raises; callers tell failures apart by subclass."""


class MsaasError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(MsaasError):
    """A setting from the environment is missing or malformed."""


class BadRequest(MsaasError):
    """The client sent something we cannot accept; the message says what to fix."""


class BadAudio(BadRequest):
    """The uploaded bytes are not audio we can decode, or are too long."""


class UnknownModel(BadRequest):
    """The requested model is not one this service offers."""


class PayloadTooLarge(BadRequest):
    """The upload is above the configured size limit."""


class NotFound(MsaasError):
    """No job, or no track of a job, by that name."""


class Unavailable(MsaasError):
    """Redis or the object store does not answer."""


class ModelLoadError(MsaasError):
    """The Demucs model cannot be loaded; the message says which variables to set."""


class BadOption(BadRequest):
    """A separation option is malformed, out of range, or not offered by the model."""


class BadCallback(BadRequest):
    """A callback URL is malformed or points where callbacks may not go."""


class Unauthorized(MsaasError):
    """API keys are configured and the request carries none of them."""
