from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("research", "0007_project"),
        ("stories", "0001_initial"),
    ]

    operations = [
        migrations.RenameField("campaign", "world_collection", "world_project"),
        migrations.AlterField(
            model_name="campaign",
            name="world_project",
            field=models.ForeignKey(blank=True, null=True, on_delete=models.deletion.SET_NULL, related_name="campaigns", to="research.project"),
        ),
    ]
