package router

// TEMPORARY: routequery's System* names, until shared/routequery lands.
const (
	systemContentType        = "contentType"
	systemContentEncoding    = "contentEncoding"
	systemConnectionDeviceID = "connectionDeviceId"
	systemEnqueuedTime       = "enqueuedTime"
	systemMessageID          = "messageId"
	systemCorrelationID      = "correlationId"
	systemUserID             = "userId"
)
