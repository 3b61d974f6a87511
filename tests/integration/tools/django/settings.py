# Django settings for ddlgate's tool test: one app, MariaDB through ddlgate.
import os

SECRET_KEY = "ddlgate-tool-test"
USE_TZ = False
INSTALLED_APPS = ["shop"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
	"default": {
		"ENGINE": "django.db.backends.mysql",
		"HOST": os.environ["DJ_HOST"],
		"PORT": int(os.environ["DJ_PORT"]),
		"USER": os.environ["DJ_USER"],
		"PASSWORD": os.environ["DJ_PASSWORD"],
		"NAME": os.environ["DJ_DATABASE"],
	}
}
