from django.db import migrations, models


class Migration(migrations.Migration):
	dependencies = [("shop", "0001_initial")]
	operations = [
		migrations.RenameField(model_name="product", old_name="name", new_name="title"),
		migrations.AddField(model_name="product", name="quantity",
				    field=models.IntegerField(default=0)),
	]
