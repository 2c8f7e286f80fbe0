{{/* The code image, read from the one place it is set: the code location's deployment. */}}
{{- define "reos.image" -}}
{{- $deployment := index (index .Values.dagster "dagster-user-deployments").deployments 0 -}}
{{- printf "%s:%s" $deployment.image.repository (toString $deployment.image.tag) -}}
{{- end -}}

{{/* Pod security shared by the hook Jobs: the image's numeric non-root user. */}}
{{- define "reos.podSecurityContext" -}}
{{- $deployment := index (index .Values.dagster "dagster-user-deployments").deployments 0 -}}
{{- toYaml $deployment.podSecurityContext -}}
{{- end -}}

{{- define "reos.containerSecurityContext" -}}
{{- $deployment := index (index .Values.dagster "dagster-user-deployments").deployments 0 -}}
{{- toYaml $deployment.securityContext -}}
{{- end -}}
