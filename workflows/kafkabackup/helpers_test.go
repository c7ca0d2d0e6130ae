package kafkabackup

import "go.temporal.io/sdk/converter"

func converterFromEnv() converter.DataConverter { return converter.GetDefaultDataConverter() }
